const token = document.querySelector('meta[name="statecraft-token"]')?.getAttribute('content') ?? '';

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

export const getJson = async (path) => parse(await fetch(path, { headers: { accept: 'application/json' } }));

export const postJson = async (path, body) =>
  parse(
    await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-statecraft-token': token },
      body: JSON.stringify(body),
    }),
  );

export const getText = async (path) => {
  const response = await fetch(path);
  if (!response.ok) await parse(response);
  return response.text();
};

export const runPath = (runId) => `/api/runs/${encodeURIComponent(runId)}`;
