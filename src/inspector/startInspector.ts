import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { agentMachine } from '../../machines/agentMachine.ts';
import { UserError } from '../errors.ts';
import type { RunStore } from '../log/runStore.ts';
import { createApi, type InspectorActions } from './inspectorApi.ts';
import type { LiveEvents } from './runStream.ts';

export type { InspectorActions, LiveEvents };
import { HttpStatusError, sendBody, sendError } from './sendJson.ts';

export interface InspectorOptions {
  store: RunStore;
  /** Address to listen on; loopback by default. */
  host?: string;
  /** 0 (the default) picks any free port. */
  port?: number;
  /** Machines to draw, by machine id; the agent machine by default. */
  machines?: Record<string, AnyStateMachine>;
  /** What approve, reject and fork do; without them those requests answer 501. */
  actions?: InspectorActions;
  /** Token deltas and events of runs in this process, streamed to the page. */
  live?: LiveEvents;
}

export interface Inspector {
  url: string;
  close(): Promise<void>;
}

const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

function loadPage(token: string): Map<string, { type: string; body: string }> {
  const assets = new Map<string, { type: string; body: string }>();
  for (const name of readdirSync(PAGE_DIR)) {
    const type = CONTENT_TYPES[extname(name)];
    if (!type) continue;
    const text = readFileSync(join(PAGE_DIR, name), 'utf8');
    assets.set(`/${name}`, { type, body: name === 'index.html' ? text.replace('__STATECRAFT_TOKEN__', token) : text });
  }
  return assets;
}

const hostName = (header: string) => (header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0]!).toLowerCase();
const urlHost = (host: string) => (WILDCARD_HOSTS.has(host) ? '127.0.0.1' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);

/**
 * Serves the run inspector (runs list, statechart, timeline, approvals, fork) and its JSON API on loopback.
 * @example
 * const inspector = await startInspector({ store: openStore(), port: 4777 });
 * console.log(`Inspector at ${inspector.url}`);
 */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`startInspector expected a port from 0 to 65535, found ${port}: pass a free port, or 0 for any.`);
  }
  const machines = options.machines ?? { [agentMachine.id]: agentMachine };
  const token = randomBytes(24).toString('base64url');
  const tokenBytes = Buffer.from(token);
  const assets = loadPage(token);
  const api = createApi({ store: options.store, machines, ...(options.actions ? { actions: options.actions } : {}), ...(options.live ? { live: options.live } : {}) });
  const allowedHosts = new Set(LOOPBACK_HOSTS);
  if (!WILDCARD_HOSTS.has(host)) allowedHosts.add(urlHost(host).toLowerCase());

  const hasToken = (req: IncomingMessage) => {
    const given = req.headers['x-statecraft-token'];
    if (typeof given !== 'string') return false;
    const bytes = Buffer.from(given);
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // DNS-rebinding guard: a page on another origin that resolves to 127.0.0.1 still sends its own Host.
    const hostHeader = req.headers.host ?? '';
    if (!allowedHosts.has(hostName(hostHeader))) {
      throw new HttpStatusError(403, `Host "${hostHeader}" is not allowed: the inspector answers loopback names only (localhost, 127.0.0.1, [::1]); open ${inspectorUrl}.`);
    }
    const url = new URL(req.url ?? '/', 'http://inspector.invalid');
    const apiPath = url.pathname.startsWith('/api/') ? url.pathname.slice(5) : undefined;
    let parts: string[] = [];
    try {
      parts = (apiPath ?? '').split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new HttpStatusError(400, `The path "${url.pathname}" is not validly percent-encoded.`);
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (apiPath !== undefined) {
        if (!(await api.get(res, parts, url.searchParams, req))) throw new HttpStatusError(404, `No API route GET ${url.pathname}; see src/inspector/inspectorApi.ts for the routes.`);
        return;
      }
      const asset = assets.get(url.pathname === '/' ? '/index.html' : url.pathname);
      if (!asset) throw new HttpStatusError(404, `No page asset at ${url.pathname}; open ${inspectorUrl}.`);
      sendBody(res, 200, asset.type, asset.body, { 'content-security-policy': CSP });
      return;
    }
    if (req.method === 'POST' && apiPath !== undefined) {
      if (!hasToken(req)) {
        throw new HttpStatusError(403, 'POST requests need this inspector\'s token in the x-statecraft-token header; reload the inspector page to get it.');
      }
      if (!(await api.post(req, res, parts))) throw new HttpStatusError(404, `No API route POST ${url.pathname}: use /api/runs/<id>/approve, /reject or /fork.`);
      return;
    }
    throw new HttpStatusError(405, `Method ${req.method} is not allowed on ${url.pathname}: use GET, or POST for approve, reject and fork.`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => sendError(res, error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES'
          ? new UserError(`The inspector could not listen on ${host}:${port} (${error.code}): pick another port, or 0 for any free one.`, { cause: error })
          : error,
      ),
    );
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  const inspectorUrl = `http://${urlHost(host)}:${bound}/`;

  return {
    url: inspectorUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        api.closeStreams();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
