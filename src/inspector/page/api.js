const TOKEN_KEY = 'statecraft-token';
const KEY_ITEM = 'statecraft-api-key';
const PERSON_ITEM = 'statecraft-person';

/**
 * `bearer` when the service serves the page: its API keys authenticate, sent as a Bearer header;
 * `token` for the local inspector's own token.
 */
export const usesKeys = document.querySelector('meta[name="statecraft-auth"]')?.getAttribute('content') === 'bearer';

/** Where the page is served: '' at the root (the local inspector), '/inspector' under the service. */
const BASE = new URL('.', import.meta.url).pathname.replace(/\/$/, '');

/**
 * The token from the link's fragment (`#token=…` or `#/runs/<id>?token=…`), which browsers send to no
 * server and in no Referer; it is kept in sessionStorage, which is this origin's (scheme, host and port)
 * alone, and dropped from the address bar. A loopback inspector puts its token in the page instead.
 */
function takeToken() {
  const hash = location.hash.slice(1);
  const mark = hash.startsWith('token=') ? 0 : hash.indexOf('?') + 1;
  const params = new URLSearchParams(mark > 0 || hash.startsWith('token=') ? hash.slice(mark) : '');
  const given = params.get('token');
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    params.delete('token');
    const route = mark > 0 ? hash.slice(0, mark - 1) : '';
    const rest = params.toString();
    const fragment = route || rest ? `#${route}${rest ? `?${rest}` : ''}` : '';
    history.replaceState(history.state, '', `${location.pathname}${location.search}${fragment}`);
  }
  return document.querySelector('meta[name="statecraft-token"]')?.getAttribute('content') || sessionStorage.getItem(TOKEN_KEY) || '';
}

const token = usesKeys ? '' : takeToken();

/**
 * The API key the person signed in with. It is kept in this tab's sessionStorage only (gone when the
 * tab closes, never sent to another origin), and travels in the Authorization header, never in a URL.
 */
export const apiKey = () => (usesKeys ? sessionStorage.getItem(KEY_ITEM) || '' : '');
/** The name the person gave at sign-in, recorded with their decisions beside the key's id. */
export const person = () => (usesKeys ? sessionStorage.getItem(PERSON_ITEM) || '' : '');

const withToken = (headers = {}, key = apiKey()) =>
  usesKeys ? (key ? { ...headers, authorization: `Bearer ${key}` } : headers) : token ? { ...headers, 'x-statecraft-token': token } : headers;

/** An error answered by the inspector API, with the server's error name and message. */
export class ApiError extends Error {
  constructor(status, name, message) {
    super(message);
    this.status = status;
    this.name = name;
  }
}

/** The answer's JSON, or its error: the local inspector's `{ error }` or the service's problem+json. */
async function parse(response, signingIn = false) {
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    // A key revoked or expired since sign-in: sign in again.
    if (response.status === 401 && usesKeys && !signingIn) signOut();
    throw new ApiError(response.status, body?.error?.name ?? body?.title ?? 'HttpError', body?.error?.message ?? body?.detail ?? `HTTP ${response.status}`);
  }
  return body;
}

const at = (path) => `${BASE}${path}`;

export const getJson = async (path) => parse(await fetch(at(path), { headers: withToken({ accept: 'application/json' }) }));

/** Checks `key` with the service, then keeps it (and the person's name) for this tab. */
export async function signIn(key, name) {
  await parse(await fetch(at('/api/config'), { headers: withToken({ accept: 'application/json' }, key) }), true);
  sessionStorage.setItem(KEY_ITEM, key);
  if (name) sessionStorage.setItem(PERSON_ITEM, name);
  else sessionStorage.removeItem(PERSON_ITEM);
}

/** Forgets the key and shows the sign-in form again. */
export function signOut() {
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.removeItem(PERSON_ITEM);
  location.reload();
}

export const postJson = async (path, body) =>
  parse(
    await fetch(at(path), {
      method: 'POST',
      headers: withToken({ 'content-type': 'application/json' }),
      body: JSON.stringify(body),
    }),
  );

export const getText = async (path) => {
  const response = await fetch(at(path), { headers: withToken() });
  if (!response.ok) await parse(response);
  return response.text();
};

/**
 * Server-Sent Events read with fetch, which, unlike EventSource, can send the token or key header. Like
 * EventSource: `addEventListener(type, listener)` receives `{ data }`, `close()` stops, a dropped
 * connection is opened again after a second, and an HTTP error ends the stream.
 */
export function openEvents(path) {
  const listeners = new Map();
  const controller = new AbortController();
  const dispatch = (block) => {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) for (const listener of listeners.get(type) ?? []) listener({ type, data: data.join('\n') });
  };
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(at(path), { headers: withToken({ accept: 'text/event-stream' }), signal: controller.signal });
        if (!response.ok) return void (await parse(response).catch((error) => console.warn(`The live stream stopped: ${error.message}`)));
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    addEventListener(type, listener) {
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type).add(listener);
    },
    close: () => controller.abort(),
  };
}

export const runPath = (runId) => `/api/runs/${encodeURIComponent(runId)}`;
