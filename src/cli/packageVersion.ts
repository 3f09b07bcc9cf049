import { readFileSync } from 'node:fs';

/**
 * The version in Statecraft's own package.json, found by walking up from this file: it sits two
 * folders up when run from source and three from the build (dist/src/cli).
 */
export function packageVersion(): string {
  for (let url = new URL('../../package.json', import.meta.url), depth = 0; depth < 3; depth++, url = new URL('../package.json', url)) {
    let text: string;
    try {
      text = readFileSync(url, 'utf8');
    } catch {
      continue;
    }
    const manifest = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (manifest.name === 'statecraft' && typeof manifest.version === 'string') return manifest.version;
  }
  return 'unknown';
}
