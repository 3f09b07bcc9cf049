import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConflictError, StatecraftError, UserError } from '../errors.ts';
import { RecordNotFoundError, RunNotFoundError } from '../log/format/storageErrors.ts';

/** An HTTP failure the inspector answers with a given status. */
export class HttpStatusError extends StatecraftError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Headers every inspector answer carries: no sniffing, no framing, no referrer, no caching. */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Writes a body with the inspector's security headers. */
export function sendBody(res: ServerResponse, status: number, contentType: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

/** Writes a JSON response; `text` may be JSON already serialized. */
export function sendJson(res: ServerResponse, status: number, value: unknown, text = JSON.stringify(value)): void {
  sendBody(res, status, 'application/json; charset=utf-8', text);
}

/** The HTTP status an error maps to: 4xx for the caller's mistakes and missing runs, 409 for conflicts, else 500. */
export function statusOf(error: unknown): number {
  if (error instanceof HttpStatusError) return error.status;
  if (error instanceof RunNotFoundError || error instanceof RecordNotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof UserError) return 400;
  return 500;
}

/** Writes an error as `{ error: { name, message } }`. */
export function sendError(res: ServerResponse, error: unknown): void {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, statusOf(error), { error: { name, message } });
}

const MAX_BODY = 1024 * 1024;

/** Reads a JSON request body of at most 1 MB; an empty body is `{}`. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpStatusError(413, `The request body is larger than ${MAX_BODY} bytes: send a smaller JSON object.`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpStatusError(400, 'Expected a JSON request body; it does not parse as JSON: send a JSON object.');
  }
}
