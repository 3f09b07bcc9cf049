import type { ServerResponse } from 'node:http';

/** One request to the scripted server's /v1/embeddings: the model asked for and the texts. */
export interface EmbeddingRequest {
  model: string;
  input: string[];
}

const DIMENSIONS = 64;

/**
 * A deterministic stand-in for an embedding model: each word (lower-cased, letters and digits) adds
 * 1 to one of 64 dimensions chosen by its hash, so texts that share words are near each other.
 */
export function bagOfWords(text: string): number[] {
  const vector = new Array<number>(DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let hash = 2166136261;
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 16777619);
    vector[(hash >>> 0) % DIMENSIONS]! += 1;
  }
  return vector;
}

/** Answers a POST /v1/embeddings body as OpenAI's API does, with a vector per input text. */
export function answerEmbeddings(res: ServerResponse, raw: string, embed: (text: string) => number[], requests: EmbeddingRequest[]): void {
  let body: { model?: unknown; input?: unknown; encoding_format?: unknown };
  try {
    body = JSON.parse(raw) as typeof body;
  } catch {
    body = {};
  }
  const input = typeof body.input === 'string' ? [body.input] : Array.isArray(body.input) ? body.input.map(String) : [];
  const model = typeof body.model === 'string' ? body.model : 'scripted-embeddings';
  requests.push({ model, input });
  const text = JSON.stringify({
    object: 'list',
    model,
    data: input.map((item, index) => {
      const vector = embed(item);
      // As OpenAI's API: base64 of little-endian float32 when asked (the openai client asks by default).
      const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return { object: 'embedding', index, embedding };
    }),
    usage: { prompt_tokens: input.join(' ').length, total_tokens: input.join(' ').length },
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
