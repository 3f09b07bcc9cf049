import type { Dirent } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { readlink } from 'node:fs/promises';
import { ToolError } from '../../errors.ts';
import type { Workspace } from './Workspace.ts';
import { WorkspaceError } from './WorkspaceError.ts';

/** Folders skipped unless asked for. */
export const IGNORED_FOLDERS: ReadonlySet<string> = new Set(['.git', 'node_modules']);
/** The most entries read from one folder: a folder holding more is walked in part, and the walk says which. */
export const MAX_FOLDER_ENTRIES = 20_000;

/** What `walkTree` reports for one entry; `path` is relative to the workspace root. */
export interface TreeEntry {
  path: string;
  entry: Dirent;
  dir: FileHandle;
  depth: number;
}

/**
 * Visits a folder's entries depth-first in name order without following symlinks; `visit` returns
 * false to stop the walk, and folders are entered only when `enter` says so. `cut` lists the folders
 * that held more than `MAX_FOLDER_ENTRIES` entries, of which only that many were visited.
 */
export async function walkTree(
  ws: Workspace,
  start: string,
  options: { maxDepth: number; enter: (entry: TreeEntry) => boolean; signal?: AbortSignal },
  visit: (entry: TreeEntry) => Promise<boolean> | boolean,
): Promise<{ path: string; stopped: boolean; cut: string[] }> {
  const opened = await ws.openDirectory(start);
  let stopped = false;
  const cut: string[] = [];
  const walk = async (dir: FileHandle, rel: string, depth: number): Promise<void> => {
    const listed = await ws.entries(dir, start, rel, { max: MAX_FOLDER_ENTRIES, ...(options.signal ? { signal: options.signal } : {}) });
    if (listed.cut) cut.push(rel);
    const entries = listed.entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
  return { path: opened.path, stopped, cut };
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

/** Reads a file met during a walk, or returns null when it is refused, binary or unreadable. */
export async function readTextInWalk(ws: Workspace, item: TreeEntry, signal?: AbortSignal): Promise<string | null> {
  signal?.throwIfAborted();
  try {
    const buffer = await ws.readChild(item.dir, item.entry.name, item.path, signal);
    if (buffer.subarray(0, 8192).includes(0)) return null;
    return buffer.toString('utf8');
  } catch (error) {
    if (error instanceof WorkspaceError || (error as NodeJS.ErrnoException).code !== undefined) return null;
    throw error;
  }
}
