/**
 * Whether to colour what goes to `stream`: NO_COLOR (any value but empty) turns colour off, whatever
 * else is set; else FORCE_COLOR (any value but empty, 0 or false) turns it on, even on a pipe, and
 * FORCE_COLOR=0 or false off; else a terminal gets colour unless TERM is dumb.
 */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force) return force !== '0' && force.toLowerCase() !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}
