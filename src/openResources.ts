/**
 * What this process opened that must not outlive it: MCP servers and connections, sandboxed commands.
 * Front ends end them all before they exit (`closeResources`); whatever is left when the process exits
 * anyway (an uncaught error, `process.exit`) is killed on the way out (`killResources`).
 */
export interface OpenResource {
  /** What it is, for messages: 'MCP server "fs" (pid 4242)'. */
  label: string;
  /** Ends it gently, escalating as it must (SIGTERM, then SIGKILL); settles once it is over. */
  close(): Promise<void>;
  /** Ends it at once and synchronously, for a process that must exit now (SIGKILL for a process). */
  kill?(): void;
}

const open = new Set<OpenResource>();
let exitHook = false;

/** Puts a resource on the list; the function returned takes it off (call it once the resource has ended). */
export function registerResource(resource: OpenResource): () => void {
  open.add(resource);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', killResources);
  }
  return () => void open.delete(resource);
}

/** The resources open now. */
export function openResources(): readonly OpenResource[] {
  return [...open];
}

/**
 * Closes every open resource, all at once; those still open after `timeoutMs` (a close that hangs)
 * are killed. Resolves when every close has settled or been given up on.
 */
export async function closeResources(timeoutMs = 10_000): Promise<void> {
  const closing = [...open].map((resource) =>
    resource.close().then(
      () => open.delete(resource),
      () => {},
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(closing), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
  killResources();
}

/** Kills every open resource now, synchronously. */
export function killResources(): void {
  for (const resource of open) {
    try {
      resource.kill?.();
    } catch {
      // Best effort on the way out: one resource's failure must not spare the others.
    }
  }
  open.clear();
}
