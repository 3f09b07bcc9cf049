import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIPv4 } from 'node:net';
import { UserError } from '../errors.ts';
import { HttpStatusError } from './sendJson.ts';

export const TOKEN_HEADER = 'x-statecraft-token';
const TOKEN_SHAPE = /^[A-Za-z0-9._~-]{16,}$/;
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** Throws a UserError unless `token` is at least 16 characters from A-Z a-z 0-9 . _ ~ - (safe in a URL and a header). */
export function checkTokenShape(token: string, source = 'The inspector token'): void {
  if (TOKEN_SHAPE.test(token)) return;
  throw new UserError(
    `${source} must be at least 16 characters from A-Z a-z 0-9 . _ ~ -, found ${token.length} character(s)${/^[A-Za-z0-9._~-]*$/.test(token) ? '' : ' including others'}: ` +
      'make one with `openssl rand -hex 24`.',
  );
}

/** Whether a bound address takes connections from this machine only: 127.0.0.0/8, ::1, or 127.x mapped into IPv6. */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(v4) ? v4.startsWith('127.') : address === '::1';
}

/** `host:port` as a browser puts it in Host and Origin, lower-cased, default port dropped; undefined if it does not parse. */
function normalHost(hostAndPort: string, scheme = 'http:'): string | undefined {
  try {
    return new URL(`${scheme}//${hostAndPort}`).host;
  } catch {
    return undefined;
  }
}

export interface AccessOptions {
  /** The address the server is bound to, as `server.address()` gives it. */
  boundAddress: string;
  port: number;
  /** Names the page may be opened under on a loopback listener, besides localhost, 127.0.0.1 and [::1]. */
  names: string[];
  token: string;
  /** A token was given by the user: it is then required even on loopback. */
  tokenGiven: boolean;
  /** The page's address, named in refusals. */
  url: string;
}

export interface AccessRules {
  loopbackOnly: boolean;
  tokenRequired: boolean;
  /** Throws an HttpStatusError (403) unless `req` may do what it asks; `api` tells an API path from a page asset. */
  check(req: IncomingMessage, api: boolean): void;
}

/**
 * The inspector's network rules, decided by the bound address and never by request headers: a listener
 * that is not loopback-only requires the token on every API request. On loopback, reads are open to this
 * machine and the Host must be a loopback name (a DNS-rebound name is refused). Everywhere, a request that
 * changes state must come from the inspector's own origin (Origin, Sec-Fetch-Site) and carry the token.
 */
export function accessRules(options: AccessOptions): AccessRules {
  const { port, token, url } = options;
  const loopbackOnly = isLoopbackAddress(options.boundAddress);
  const tokenRequired = !loopbackOnly || options.tokenGiven;
  const tokenBytes = Buffer.from(token);
  const bound = options.boundAddress.includes(':') ? `[${options.boundAddress}]` : options.boundAddress;
  const loopbackHosts = new Set([...LOOPBACK_NAMES, ...options.names, bound].flatMap((name) => normalHost(`${name}:${port}`) ?? []));

  const hasToken = (req: IncomingMessage) => {
    const given = req.headers[TOKEN_HEADER];
    if (typeof given !== 'string') return false;
    const bytes = Buffer.from(given);
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };

  // The page's own origins: on loopback, any loopback name with this port (the Host check bars other
  // names); elsewhere, the name the client reached us by, which a page on another site cannot send as
  // its Origin (a DNS-rebound page can, but has no token: it lives in the real origin's storage).
  const isOwnOrigin = (req: IncomingMessage, origin: string) => {
    let originHost: string | undefined;
    try {
      const parsed = new URL(origin);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') originHost = normalHost(parsed.host, parsed.protocol);
    } catch {}
    if (originHost === undefined) return false;
    return loopbackOnly ? loopbackHosts.has(originHost) : originHost === normalHost(req.headers.host ?? '');
  };

  const crossOrigin = (req: IncomingMessage, what: string) => {
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    const from = origin !== undefined && !isOwnOrigin(req, origin) ? origin : site !== undefined && site !== 'same-origin' ? `a ${site} page` : undefined;
    if (from === undefined) return;
    throw new HttpStatusError(
      403,
      `Refused a cross-origin ${what} from ${from}: the inspector's API answers its own page only. Open ${url} and act there.`,
    );
  };

  function check(req: IncomingMessage, api: boolean): void {
    const method = req.method ?? 'GET';
    const what = `${method} ${(req.url ?? '/').split('?')[0]}`;
    if (loopbackOnly && !loopbackHosts.has(normalHost(req.headers.host ?? '') ?? '')) {
      throw new HttpStatusError(403, `Host "${req.headers.host ?? ''}" is not allowed: the inspector answers loopback names only (localhost, 127.0.0.1, [::1]); open ${url}.`);
    }
    const changes = method !== 'GET' && method !== 'HEAD';
    if (changes) crossOrigin(req, what);
    // A browser names the site a request comes from: the API answers only its own page, or an address typed in.
    else if (api && req.headers['sec-fetch-site'] !== undefined && !['same-origin', 'none'].includes(String(req.headers['sec-fetch-site']))) crossOrigin(req, what);
    if (!api || hasToken(req)) return;
    if (tokenRequired) {
      throw new HttpStatusError(
        403,
        `This inspector requires its token (${what}): open the link \`npx statecraft inspect\` printed, which ends in #token=…, or send the token in the ${TOKEN_HEADER} header.`,
      );
    }
    if (changes) {
      throw new HttpStatusError(403, `${method} requests need this inspector's token in the ${TOKEN_HEADER} header; reload the inspector page to get it.`);
    }
  }

  return { loopbackOnly, tokenRequired, check };
}
