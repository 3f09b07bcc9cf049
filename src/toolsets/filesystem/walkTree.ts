import type { Dirent } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { readlink } from 'node:fs/promises';
import { ToolError } from '../../errors.ts';
import type { Workspace } from './Workspace.ts';
import { WorkspaceError } from './WorkspaceError.ts';

/** Folders skipped unless asked for. */
export const IGNORED_FOLDERS: ReadonlySet<string> = new Set(['.git', 'node_modules']);

/** What `walkTree` reports for one entry; `path` is relative to the workspace root. */
export interface TreeEntry {
  path: string;
  entry: Dirent;
  dir: FileHandle;
  depth: number;
}

/**
 * Visits a folder's entries depth-first in name order without following symlinks; `visit` returns
 * false to stop the walk, and folders are entered only when `enter` says so.
 */
export async function walkTree(
  ws: Workspace,
  start: string,
  options: { maxDepth: number; enter: (entry: TreeEntry) => boolean; signal?: AbortSignal },
  visit: (entry: TreeEntry) => Promise<boolean> | boolean,
): Promise<{ path: string; stopped: boolean }> {
  const opened = await ws.openDirectory(start);
  let stopped = false;
  const walk = async (dir: FileHandle, rel: string, depth: number): Promise<void> => {
    const entries = (await ws.entries(dir)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (stopped) return;
      if (options.signal?.aborted) throw new ToolError('The walk was cancelled.');
      const item: TreeEntry = { path: rel === '.' ? entry.name : `${rel}/${entry.name}`, entry, dir, depth };
      if (!(await visit(item))) {
        stopped = true;
        return;
      }
      if (entry.isDirectory() && depth < options.maxDepth && options.enter(item)) {
        const child = await ws.openChildDirectory(dir, entry.name);
        if (!child) continue;
        try {
          await walk(child, item.path, depth + 1);
        } finally {
          await child.close();
        }
      }
    }
  };
  try {
    await walk(opened.handle, opened.path, 1);
  } finally {
    await opened.handle.close();
  }
  return { path: opened.path, stopped };
}

/** Describes an entry for a listing: folders end in "/", links show their target and are not followed. */
export async function describeEntry(item: TreeEntry): Promise<string> {
  const { entry, path } = item;
  if (entry.isDirectory()) return `${path}/`;
  if (entry.isFile()) return path;
  if (entry.isSymbolicLink()) {
    const target = await readlink(`/proc/self/fd/${item.dir.fd}/${entry.name}`).catch(() => '?');
    return `${path} -> ${target} (symbolic link, not followed)`;
  }
  const kind = entry.isFIFO() ? 'FIFO' : entry.isSocket() ? 'socket' : 'device';
  return `${path} (${kind}, not readable)`;
}

/** Turns a glob ("*.ts", "src/**\/*.test.ts", "{a,b}.md") into a test on a relative path. */
export function globMatcher(glob: string): (path: string) => boolean {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '{') source += '(?:';
    else if (c === '}') source += ')';
    else if (c === ',' && glob.lastIndexOf('{', i) > glob.lastIndexOf('}', i)) source += '|';
    else source += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  const regex = new RegExp(`^${source}$`);
  const onName = !glob.includes('/');
  return (path) => regex.test(onName ? path.slice(path.lastIndexOf('/') + 1) : path);
}

/** Reads a file met during a walk, or returns null when it is refused, binary or unreadable. */
export async function readTextInWalk(ws: Workspace, item: TreeEntry): Promise<string | null> {
  try {
    const buffer = await ws.readChild(item.dir, item.entry.name, item.path);
    if (buffer.subarray(0, 8192).includes(0)) return null;
    return buffer.toString('utf8');
  } catch (error) {
    if (error instanceof WorkspaceError || (error as NodeJS.ErrnoException).code !== undefined) return null;
    throw error;
  }
}
