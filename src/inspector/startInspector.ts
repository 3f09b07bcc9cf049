import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnyStateMachine } from 'xstate';
import { agentMachine } from '../../machines/agentMachine.ts';
import { UserError } from '../errors.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import { accessRules, checkTokenShape, type AccessRules } from './accessRules.ts';
import { createApi, type InspectorActions } from './inspectorApi.ts';
import { loadPage, PAGE_CSP, type PageAsset } from './pageAssets.ts';
import type { LiveEvents } from './runStream.ts';

export type { InspectorActions, LiveEvents };
import { HttpStatusError, sendBody, sendError } from './sendJson.ts';

export interface InspectorOptions {
  store: RunStore;
  /**
   * Address to listen on; 127.0.0.1 by default. On any address that is not loopback-only (0.0.0.0, a
   * LAN address) every API request needs the token.
   */
  host?: string;
  /**
   * The token API requests carry (header `x-statecraft-token`): at least 16 characters from A-Z a-z 0-9 . _ ~ -.
   * Given, it is required on every listener, loopback too; omitted, a random one is made for this process.
   */
  token?: string;
  /** 0 (the default) picks any free port. */
  port?: number;
  /** Machines to draw, by machine id; the agent machine by default. */
  machines?: Record<string, AnyStateMachine>;
  /** What approve, reject and fork do; without them those requests answer 501. */
  actions?: InspectorActions;
  /**
   * Token deltas of runs in this process whose store has no live channel, streamed to the page. The
   * store's live channel brings those of every process's runs: runs recording to a store with one
   * need nothing here (given both, their text would be shown twice).
   */
  live?: LiveEvents;
  /** Loads a run's agent from a module the user trusts, to draw runs recorded without their machine graphs. */
  agentFor?: (runId: string) => Promise<Agent>;
}

export interface Inspector {
  /** The page's address, without the token. */
  url: string;
  /** The token; with `tokenRequired`, every API request needs it, else only approve, reject and fork. */
  token: string;
  /** False only on a loopback-only listener started without a token. */
  tokenRequired: boolean;
  /** Whether the bound address takes connections from this machine only (127.0.0.0/8, ::1). */
  loopbackOnly: boolean;
  /**
   * The page's address opening on `runId` if given; when a token is required it rides in the fragment
   * (`#token=…`), which browsers never send to a server or in a Referer.
   */
  link(runId?: string): string;
  close(): Promise<void>;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

const urlHost = (host: string) => (WILDCARD_HOSTS.has(host) ? '127.0.0.1' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);

/**
 * Serves the run inspector (runs list, statechart, timeline, approvals, fork) and its JSON API, on loopback
 * unless `host` says otherwise; see `accessRules` for who may read and act.
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
  if (options.token !== undefined) checkTokenShape(options.token, 'The token given to startInspector');
  const machines = options.machines ?? { [agentMachine.id]: agentMachine };
  const token = options.token ?? randomBytes(24).toString('base64url');
  const api = createApi({ store: options.store, machines, ...(options.actions ? { actions: options.actions } : {}), ...(options.live ? { live: options.live } : {}), ...(options.agentFor ? { agentFor: options.agentFor } : {}) });
  // Set once the address is bound; until then nothing is answered.
  let rules: AccessRules | undefined;
  let assets = new Map<string, PageAsset>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!rules) throw new HttpStatusError(503, 'The inspector is still starting: retry in a moment.');
    const url = new URL(req.url ?? '/', 'http://inspector.invalid');
    const apiPath = url.pathname.startsWith('/api/') ? url.pathname.slice(5) : undefined;
    rules.check(req, apiPath !== undefined);
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
      sendBody(res, 200, asset.type, asset.body, { 'content-security-policy': PAGE_CSP });
      return;
    }
    if (req.method === 'POST' && apiPath !== undefined) {
      if (!(await api.post(req, res, parts))) throw new HttpStatusError(404, `No API route POST ${url.pathname}: use /api/runs/<id>/approve, /reject, /fork, /cancel or /resume.`);
      return;
    }
    throw new HttpStatusError(405, `Method ${req.method} is not allowed on ${url.pathname}: use GET, or POST for approve, reject, fork, cancel and resume.`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => sendError(res, error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES'
          ? new UserError(`The inspector could not listen on ${host}:${port} (${error.code}): pick another port, or 0 for any free one.`, { cause: error })
          : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
            ? new UserError(`The inspector could not listen on ${host} (${error.code}): give an address of this machine, such as 127.0.0.1 or 0.0.0.0 for every interface.`, { cause: error })
            : error,
      ),
    );
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const inspectorUrl = `http://${urlHost(host)}:${bound.port}/`;
  rules = accessRules({
    boundAddress: bound.address,
    port: bound.port,
    names: WILDCARD_HOSTS.has(host) ? [] : [urlHost(host)],
    token,
    tokenGiven: options.token !== undefined,
    url: inspectorUrl,
  });
  const { tokenRequired, loopbackOnly } = rules;
  // A page that requires the token gets it from the link's fragment, never from the server.
  assets = loadPage({ kind: 'token', token: tokenRequired ? '' : token });

  return {
    url: inspectorUrl,
    token,
    tokenRequired,
    loopbackOnly,
    link: (runId) => {
      const route = runId === undefined ? '' : `/runs/${encodeURIComponent(runId)}`;
      if (!tokenRequired) return route ? `${inspectorUrl}#${route}` : inspectorUrl;
      return `${inspectorUrl}#${route ? `${route}?` : ''}token=${token}`;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        api.closeStreams();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
