/**
 * Names by how close they are to `name` (edit distance, ignoring case), closest first; of equally
 * close ones, those that begin as `name` does come first (`timeout`: `timeoutMs` before `onTimeout`),
 * then alphabetical order.
 */
export function byCloseness(name: string, names: readonly string[]): string[] {
  const lower = name.toLowerCase();
  return names
    .map((candidate) => ({ candidate, d: editDistance(lower, candidate.toLowerCase()), p: commonPrefix(lower, candidate.toLowerCase()) }))
    .sort((a, b) => a.d - b.d || b.p - a.p || a.candidate.localeCompare(b.candidate))
    .map((x) => x.candidate);
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** The known name closest to a misspelt one, when it is close enough to be what was meant. */
export function closestName(name: string, names: readonly string[]): string | undefined {
  const [best] = byCloseness(name, names);
  return best !== undefined && editDistance(name.toLowerCase(), best.toLowerCase()) <= Math.max(2, name.length / 3) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
