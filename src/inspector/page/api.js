const TOKEN_KEY = 'statecraft-token';

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

const token = takeToken();
const withToken = (headers = {}) => (token ? { ...headers, 'x-statecraft-token': token } : headers);

/** An error answered by the inspector API, with the server's error name and message. */
export class ApiError extends Error {
  constructor(status, name, message) {
    super(message);
    this.status = status;
    this.name = name;
  }
}

async function parse(response) {
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, body?.error?.name ?? 'HttpError', body?.error?.message ?? `HTTP ${response.status}`);
  }
  return body;
}

export const getJson = async (path) => parse(await fetch(path, { headers: withToken({ accept: 'application/json' }) }));

export const postJson = async (path, body) =>
  parse(
    await fetch(path, {
      method: 'POST',
      headers: withToken({ 'content-type': 'application/json' }),
      body: JSON.stringify(body),
    }),
  );

export const getText = async (path) => {
  const response = await fetch(path, { headers: withToken() });
  if (!response.ok) await parse(response);
  return response.text();
};

/**
 * Server-Sent Events read with fetch, which, unlike EventSource, can send the token header. Like
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
        const response = await fetch(path, { headers: withToken({ accept: 'text/event-stream' }), signal: controller.signal });
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
