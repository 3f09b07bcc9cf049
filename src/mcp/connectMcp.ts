import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolError, UserError } from '../errors.ts';
import { importPeer } from '../importPeer.ts';
import { defineTool, type Tool } from '../tools/defineTool.ts';
import { mcpInputSchema } from './mcpInputSchema.ts';
import { mcpResultText } from './mcpResultText.ts';
import { mcpToolName } from './mcpToolName.ts';
import type { ProcessGroupTransport } from './ProcessGroupTransport.ts';
import { registerResource } from '../openResources.ts';

/** How to reach an MCP server: a child process over stdio, or a streamable HTTP endpoint. */
export type McpTransportOptions =
  | { type: 'stdio'; command: string; args?: string[]; env?: Record<string, string>; cwd?: string }
  | { type: 'http'; url: string; headers?: Record<string, string> };

export interface McpOptions {
  /** Prefix of every tool name: 'fs' turns the server's `read_file` into `fs__read_file`. */
  name: string;
  transport: McpTransportOptions;
  /** Server tool names to offer (all when omitted). */
  include?: string[];
  /** Server tool names to leave out. */
  exclude?: string[];
  /** A function receives the server's own tool name. */
  needsApproval?: boolean | ((toolName: string) => boolean);
  /** Per-attempt timeout of every tool, also sent to the MCP request. */
  timeoutMs?: number;
  scopes?: string[];
  /**
   * How long a stdio server has to exit once its input ends, and again after SIGTERM, before it and
   * the processes it started are killed (default 2000 ms).
   */
  closeGraceMs?: number;
}

/** A server tool that was not turned into a `Tool`, and why. */
export interface McpSkippedTool {
  name: string;
  reason: string;
}

export interface McpConnection {
  tools: Tool[];
  skipped: McpSkippedTool[];
  server: { name: string; version: string };
  /** Process id of the stdio server, undefined for HTTP. */
  pid: number | undefined;
  /**
   * Ends the session and, for stdio, the server and every process it started: its input is closed,
   * then SIGTERM, then SIGKILL, each after `closeGraceMs`. Settles once they have exited. The CLI
   * closes every open connection before it exits; a program of your own should call it.
   */
  close(): Promise<void>;
}

const PREFIX_PATTERN = /^[a-zA-Z0-9_-]{1,30}$/;
const CLOSE_GRACE_MS = 2_000;
const MAX_TIMEOUT_MS = 2_147_483_647;
const STDERR_TAIL_CHARS = 2_000;

const SDK = '@modelcontextprotocol/sdk';
const SDK_NEEDED = 'MCP tools need';

/** The MCP SDK's client and transports, loaded when a server is first connected: the SDK is an optional peer dependency. */
async function loadSdk() {
  const [{ Client }, { StdioClientTransport }, { StreamableHTTPClientTransport }] = await Promise.all([
    importPeer(() => import('@modelcontextprotocol/sdk/client/index.js'), SDK, SDK_NEEDED),
    importPeer(() => import('@modelcontextprotocol/sdk/client/stdio.js'), SDK, SDK_NEEDED),
    importPeer(() => import('@modelcontextprotocol/sdk/client/streamableHttp.js'), SDK, SDK_NEEDED),
  ]);
  const { ProcessGroupTransport } = await import('./ProcessGroupTransport.ts');
  return { Client, StdioClientTransport, StreamableHTTPClientTransport, ProcessGroupTransport };
}

type Sdk = Awaited<ReturnType<typeof loadSdk>>;

/**
 * Connects to an MCP server and offers its tools as Statecraft tools named `<name>__<tool>`. It needs
 * the MCP SDK (an optional peer dependency, `npm install @modelcontextprotocol/sdk`), loaded on the first call.
 * @example
 * const fs = await connectMcp({
 *   name: 'fs',
 *   transport: { type: 'stdio', command: 'npx', args: ['@modelcontextprotocol/server-filesystem', '/tmp/work'] },
 *   exclude: ['move_file'],
 *   needsApproval: (tool) => tool.startsWith('write') || tool === 'edit_file',
 * });
 * try {
 *   await runAgent(defineAgent({ name: 'files', model, tools: fs.tools }), 'Summarise notes.txt');
 * } finally {
 *   await fs.close();
 * }
 */
export async function connectMcp(options: McpOptions): Promise<McpConnection> {
  validateOptions(options);
  const sdk = await loadSdk();
  const label = `MCP server "${options.name}"`;
  const stderr = { tail: '' };
  const transport = createTransport(sdk, options, label, stderr);
  const client = new sdk.Client({ name: 'statecraft', version: '0.1.0' }, { capabilities: {} });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (transport instanceof sdk.StreamableHTTPClientTransport) await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
      release();
    })();
    return closing;
  };
  // Until closed, the connection is an open resource of this process: the CLI closes it before exiting.
  const release = registerResource({ label, close, kill: () => (transport instanceof sdk.ProcessGroupTransport ? transport.kill() : undefined) });
  try {
    await client.connect(transport);
  } catch (error) {
    await close();
    const detail = error instanceof Error ? error.message : String(error);
    const log = stderr.tail.trim() ? ` Its stderr ended with:\n${stderr.tail.trim()}` : '';
    throw new ToolError(
      `${label} could not be started or reached (${describeTransport(options.transport)}): ${detail}. ` +
        `Check the command or URL and that the server speaks MCP.${log}`,
      { cause: error },
    );
  }
  try {
    const version = client.getServerVersion();
    const { tools, skipped } = await listTools(client, options, label);
    return {
      tools,
      skipped,
      server: { name: version?.name ?? 'unknown', version: version?.version ?? 'unknown' },
      pid: transport instanceof sdk.StreamableHTTPClientTransport ? undefined : (transport.pid ?? undefined),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function validateOptions(options: McpOptions): void {
  if (typeof options?.name !== 'string' || !PREFIX_PATTERN.test(options.name)) {
    throw new UserError(
      `connectMcp: name must be 1-30 characters from a-z, A-Z, 0-9, "_" and "-" (it prefixes every tool name); ` +
        `found ${JSON.stringify(options?.name)}.`,
    );
  }
  const t = options.transport;
  if (t?.type === 'stdio') {
    if (typeof t.command !== 'string' || t.command === '') {
      throw new UserError(`connectMcp "${options.name}": transport.command must be the server's executable; found ${JSON.stringify(t.command)}.`);
    }
  } else if (t?.type === 'http') {
    if (!URL.canParse(t.url)) {
      throw new UserError(`connectMcp "${options.name}": transport.url must be an absolute http(s) URL; found ${JSON.stringify(t.url)}.`);
    }
  } else {
    throw new UserError(`connectMcp "${options.name}": transport.type must be "stdio" or "http"; found ${JSON.stringify((t as { type?: unknown })?.type)}.`);
  }
  if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
    throw new UserError(`connectMcp "${options.name}": timeoutMs must be a positive number of milliseconds; found ${String(options.timeoutMs)}.`);
  }
}

function createTransport(
  sdk: Sdk,
  options: McpOptions,
  label: string,
  stderr: { tail: string },
): StreamableHTTPClientTransport | ProcessGroupTransport | StdioClientTransport {
  const given = options.transport;
  if (given.type === 'http') {
    return new sdk.StreamableHTTPClientTransport(new URL(given.url), { requestInit: { headers: given.headers ?? {} } });
  }
  const server = { command: given.command, args: given.args ?? [], ...(given.env ? { env: given.env } : {}), ...(given.cwd ? { cwd: given.cwd } : {}) };
  // Windows has no process groups to end, and needs the SDK's spawn to start `npx` and other .cmd launchers.
  const transport =
    process.platform === 'win32'
      ? new sdk.StdioClientTransport({ ...server, stderr: 'pipe' })
      : new sdk.ProcessGroupTransport({ ...server, label, graceMs: options.closeGraceMs ?? CLOSE_GRACE_MS });
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr.tail = (stderr.tail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
  });
  return transport;
}

function describeTransport(options: McpTransportOptions): string {
  return options.type === 'http' ? `url ${options.url}` : `command ${[options.command, ...(options.args ?? [])].join(' ')}`;
}

interface ListedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: unknown;
  execution?: { taskSupport?: string };
}

async function listTools(
  client: Client,
  options: McpOptions,
  label: string,
): Promise<{ tools: Tool[]; skipped: McpSkippedTool[] }> {
  const listed: ListedTool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    listed.push(...(page.tools as ListedTool[]));
    cursor = page.nextCursor;
  } while (cursor);
  const offered = new Set(listed.map((t) => t.name));
  const skipped: McpSkippedTool[] = [];
  for (const name of options.include ?? []) {
    if (!offered.has(name)) {
      skipped.push({ name, reason: `listed in include, but ${label} offers no such tool (it offers: ${[...offered].join(', ')})` });
    }
  }
  const taken = new Set<string>();
  const tools: Tool[] = [];
  for (const mcpTool of listed) {
    if (options.include && !options.include.includes(mcpTool.name)) continue;
    if (options.exclude?.includes(mcpTool.name)) continue;
    if (mcpTool.execution?.taskSupport === 'required') {
      skipped.push({ name: mcpTool.name, reason: 'the tool runs only as an MCP task, which Statecraft does not support yet' });
      continue;
    }
    const name = mcpToolName(options.name, mcpTool.name, taken);
    const approval = options.needsApproval;
    const needsApproval = typeof approval === 'function' ? approval(mcpTool.name) : (approval ?? false);
    try {
      tools.push(toTool(client, options, label, mcpTool, name, needsApproval));
      taken.add(name);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      skipped.push({ name: mcpTool.name, reason: `its input schema cannot be offered to the model in strict mode: ${detail}` });
    }
  }
  return { tools, skipped };
}

function toTool(
  client: Client,
  options: McpOptions,
  label: string,
  mcpTool: ListedTool,
  name: string,
  needsApproval: boolean,
): Tool {
  const parameters = mcpInputSchema(mcpTool.inputSchema);
  const description =
    mcpTool.description?.trim() || mcpTool.title?.trim() || `Tool "${mcpTool.name}" of ${label} (no description given).`;
  const timeout = options.timeoutMs ?? MAX_TIMEOUT_MS;
  return defineTool({
    name,
    description,
    parameters,
    needsApproval,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.scopes ? { scopes: options.scopes } : {}),
    async execute(args, ctx) {
      let result: Record<string, unknown>;
      try {
        result = await client.callTool({ name: mcpTool.name, arguments: args }, undefined, { signal: ctx.signal, timeout });
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        const detail = error instanceof Error ? error.message : String(error);
        throw new ToolError(`${label} could not run tool "${mcpTool.name}" (call ${ctx.callId}): ${detail}`, { cause: error });
      }
      const text = mcpResultText(result);
      if (result.isError === true) {
        throw new ToolError(text || `${label} reported that tool "${mcpTool.name}" failed, without a message.`);
      }
      return text || '(no output)';
    },
  });
}
