import { importPeer } from '../importPeer.ts';
import { LIMIT_SETTINGS } from '../service/limits/limitsConfig.ts';
import type { CommandValues } from './args.ts';
import { loadAgent } from './loadAgent.ts';
import { onInterrupt } from './shutdown.ts';

const INSTALL = 'npm install hono @hono/node-server @hono/zod-openapi rate-limiter-flexible';
const NEEDS = 'statecraft serve needs';

/** A flag's values, split at commas and repeated flags joined; undefined when not given. */
const listOf = (value: unknown): string[] | undefined =>
  value === undefined ? undefined : (value as string[]).flatMap((item) => item.split(',')).map((item) => item.trim()).filter(Boolean);

const numberOf = (value: unknown): number | string | undefined => (value === undefined ? undefined : /^\d+(\.\d+)?$/.test(value as string) ? Number(value) : (value as string));

/** The limits given as flags, or undefined when none is. */
function limitsOf(values: CommandValues): Record<string, unknown> | undefined {
  const given = LIMIT_SETTINGS.filter(({ flag }) => values[flag] !== undefined).map(({ key, flag }) => [key, numberOf(values[flag])]);
  return given.length ? Object.fromEntries(given) : undefined;
}

export async function serve(values: CommandValues): Promise<number> {
  const { loadServiceConfig } = await import('../service/serviceConfig.ts');
  const flags = {
    store: values.store,
    agents: listOf(values.agents),
    port: numberOf(values.port),
    host: values.host,
    allowedOrigins: listOf(values['allowed-origin']),
    bodyLimitBytes: numberOf(values['body-limit']),
    separationOfDuties: values['separation-of-duties'],
    shutdownGraceMs: numberOf(values['shutdown-grace']),
    logLevel: values['log-level'],
    trustProxy: values['trust-proxy'],
    masterKeyFile: values['master-key-file'],
    limits: limitsOf(values),
  };
  const file = (values.config as string | undefined) ?? (process.env.STATECRAFT_SERVE_CONFIG || undefined);
  const config = loadServiceConfig({ flags, env: process.env, ...(file ? { file } : {}) });
  await importPeer(() => import('hono'), 'hono', NEEDS, INSTALL);
  await importPeer(() => import('@hono/node-server'), '@hono/node-server', NEEDS, INSTALL);
  await importPeer(() => import('@hono/zod-openapi'), '@hono/zod-openapi', NEEDS, INSTALL);
  await importPeer(() => import('rate-limiter-flexible'), 'rate-limiter-flexible', NEEDS, INSTALL);
  const { createServer } = await import('../service/createServer.ts');
  const agents = [];
  for (const path of config.agents) {
    const module = await loadAgent(path);
    agents.push({ agent: module.agent, module: module.path });
  }
  const { agents: _paths, ...settings } = config;
  const server = await createServer({ ...settings, agents });
  let url: string;
  try {
    ({ url } = await server.listen());
  } catch (error) {
    await server.close();
    throw error;
  }
  process.stderr.write(`Statecraft service on ${url} (OpenAPI at ${url}/openapi.json), serving ${agents.map(({ agent }) => agent.name).join(', ')}. Ctrl-C stops it.\n`);
  await new Promise<NodeJS.Signals>((resolve) => onInterrupt(resolve));
  await server.close();
  return 0;
}
