import { open } from 'node:fs/promises';
import type { LiveMessage } from './liveChannel.ts';

/** Lines of a run's text file name the file they were written to (`g`) and their place in it (`n`). */
export type Line = LiveMessage & { g?: string; n?: number };

/** Bytes `from` to `to` (at most the file's end) of a file. */
export async function readRange(path: string, from: number, to: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const size = Math.min(to, (await handle.stat()).size) - from;
    if (size <= 0) return Buffer.alloc(0);
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, from);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Splits on newlines; the last piece is what follows the last one. */
export function splitLines(text: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let at = text.indexOf(10); at >= 0; at = text.indexOf(10, start)) {
    lines.push(text.subarray(start, at));
    start = at + 1;
  }
  lines.push(text.subarray(start));
  return lines;
}

/** A line's JSON, or undefined for a torn or foreign line. */
export function parseLine(raw: Buffer): Line | undefined {
  try {
    return JSON.parse(raw.toString('utf8')) as Line;
  } catch {
    return undefined;
  }
}
