import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the inspector page, ready to send. */
export interface PageAsset {
  type: string;
  body: string;
}

const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's Content-Security-Policy: its own scripts and API only, never framed. */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * How the page authenticates: `token` (the local inspector's `x-statecraft-token`, given in the page or
 * the link's fragment) or `bearer` (the service's API keys, asked for once and sent as a Bearer header).
 */
export type PageAuth = { kind: 'token'; token: string } | { kind: 'bearer' };

/** The page's files by path (`/index.html`, `/app.js`, ...), with the page told how it authenticates. */
export function loadPage(auth: PageAuth): Map<string, PageAsset> {
  const assets = new Map<string, PageAsset>();
  for (const name of readdirSync(PAGE_DIR)) {
    const type = CONTENT_TYPES[extname(name)];
    if (!type) continue;
    const text = readFileSync(join(PAGE_DIR, name), 'utf8');
    const body = name === 'index.html' ? text.replace('__STATECRAFT_TOKEN__', auth.kind === 'token' ? auth.token : '').replace('__STATECRAFT_AUTH__', auth.kind) : text;
    assets.set(`/${name}`, { type, body });
  }
  return assets;
}
