const NAME_LIMIT = 64;

/**
 * Builds `<prefix>__<tool>` from an MCP tool name, replacing characters outside a-z, A-Z, 0-9, "_"
 * and "-", cutting it to 64 characters and adding a numbered suffix when the name is taken.
 */
export function mcpToolName(prefix: string, toolName: string, taken: ReadonlySet<string>): string {
  const clean = toolName.replace(/[^a-zA-Z0-9_-]/g, '_') || 'tool';
  const base = `${prefix}__${clean}`.slice(0, NAME_LIMIT);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const suffix = `_${n}`;
    const candidate = base.slice(0, NAME_LIMIT - suffix.length) + suffix;
    if (!taken.has(candidate)) return candidate;
  }
}
