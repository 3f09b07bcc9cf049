import { randomBytes } from 'node:crypto';
import { constants, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { lstat, mkdir, open, opendir, readlink, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../errors.ts';
import { asRefusal, changedDuringOpen, notAFile, outside, refuse, tooLarge } from './WorkspaceError.ts';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
const MAX_LINK_HOPS = 40;
const MAX_PATH_CHARS = 4096;
const DEFAULT_MAX_READ_BYTES = 1024 * 1024;
const RACE_CODES = new Set(['ELOOP', 'ENOTDIR', 'ENOENT', 'EMLINK']);

export interface WorkspaceOptions {
  /** Largest file `readText` returns, in bytes; 1 MiB by default. */
  maxReadBytes?: number;
  /** Read regular files that have more than one hard link (writes to them are always refused). */
  allowHardLinkedReads?: boolean;
  /** Called after a path is resolved and right before the file is opened (tests use it to race). */
  beforeOpen?: (relativePath: string) => void | Promise<void>;
}

/** A file opened inside the workspace; the caller closes `handle`. */
export interface OpenedFile {
  handle: FileHandle;
  path: string;
  stats: Stats;
}

interface Resolved {
  dir: FileHandle;
  dirPath: string[];
  name: string | null;
  stats: Stats | null;
}

type Intent = 'read' | 'write' | 'directory';

// Every open goes through "/proc/self/fd/<dir fd>/<one name>": the kernel resolves the magic link to
// the directory we already hold (like openat), so no path string is ever re-resolved from the root.
// Each folder is opened with O_DIRECTORY|O_NOFOLLOW and compared (dev, inode) with what lstat saw, the
// last component with O_NOFOLLOW|O_NONBLOCK, symlinks are expanded by us (never by the kernel) and
// "..": pops our own stack of held folders. A folder swapped for a symlink after the check therefore
// fails the open (ELOOP/ENOTDIR); a held folder moved out of the root is caught by the final check of
// readlink(/proc/self/fd/N) against the root; writes rename inside a held folder, and rename never
// follows a symlink at the destination.
const at = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

const kindOf = (st: Stats): string =>
  st.isDirectory() ? 'folder' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symbolic link'
    : st.isFIFO() ? 'FIFO (named pipe)' : st.isSocket() ? 'socket'
      : st.isCharacterDevice() ? 'character device' : st.isBlockDevice() ? 'block device' : 'special file';

async function guard<T>(input: string, display: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw asRefusal(error, input, display);
  }
}

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | null)?.code;

/**
 * A folder that model-supplied paths are confined to, checked on the opened files rather than on strings.
 * @example
 * const ws = new Workspace('/srv/project');
 * const { text } = await ws.readText('src/index.ts');
 * await ws.writeText('notes/todo.md', '- ship it\n');
 */
export class Workspace {
  readonly root: string;
  readonly maxReadBytes: number;
  readonly #allowHardLinkedReads: boolean;
  readonly #beforeOpen: WorkspaceOptions['beforeOpen'];
  readonly #prefix: string;

  constructor(root: string, options: WorkspaceOptions = {}) {
    if (process.platform !== 'linux') {
      throw new UserError(`Workspace needs Linux (it opens files through /proc/self/fd); found ${process.platform}.`);
    }
    if (typeof root !== 'string' || root === '') throw new UserError('Workspace: root must be a non-empty folder path.');
    let real: string;
    try {
      real = realpathSync(root);
    } catch (error) {
      throw new UserError(`Workspace root "${root}" cannot be resolved (${codeOf(error)}); create the folder first.`);
    }
    if (!statSync(real).isDirectory()) throw new UserError(`Workspace root "${root}" is not a folder; pass a folder.`);
    const max = options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES;
    if (!Number.isInteger(max) || max <= 0) {
      throw new UserError(`Workspace: maxReadBytes must be a positive integer; found ${String(options.maxReadBytes)}.`);
    }
    this.root = real;
    this.#prefix = real === '/' ? '/' : `${real}/`;
    this.maxReadBytes = max;
    this.#allowHardLinkedReads = options.allowHardLinkedReads ?? false;
    this.#beforeOpen = options.beforeOpen;
  }

  /** Opens a regular file for reading after every confinement check; the caller closes the handle. */
  openFile(input: string): Promise<OpenedFile> {
    return guard(input, input, () => this.#openFile(input));
  }

  async #openFile(input: string): Promise<OpenedFile> {
    const r = await this.#resolve(input, 'read');
    try {
      if (r.name === null || r.stats === null) throw notAFile(input, r.dirPath.join('/') || '.');
      const display = [...r.dirPath, r.name].join('/');
      this.#checkFile(r.stats, input, display, 'read');
      await this.#beforeOpen?.(display);
      return await this.#openFileAt(r.dir, r.name, display, input);
    } finally {
      await r.dir.close();
    }
  }

  /** Reads a file as UTF-8 text, refusing files over `maxReadBytes`; `signal` stops a long read. */
  readText(input: string, signal?: AbortSignal): Promise<{ path: string; text: string; bytes: number }> {
    return guard(input, input, () => this.#readText(input, signal));
  }

  async #readText(input: string, signal: AbortSignal | undefined): Promise<{ path: string; text: string; bytes: number }> {
    const file = await this.#openFile(input);
    try {
      const buffer = await this.#readOpened(file.handle, file.path, input, signal);
      return { path: file.path, text: buffer.toString('utf8'), bytes: buffer.length };
    } finally {
      await file.handle.close();
    }
  }

  /** Writes text atomically (temp file and rename in the same folder), creating parent folders inside the root. */
  writeText(input: string, content: string): Promise<{ path: string; bytes: number; created: boolean }> {
    return guard(input, input, () => this.#writeText(input, content));
  }

  async #writeText(input: string, content: string): Promise<{ path: string; bytes: number; created: boolean }> {
    const r = await this.#resolve(input, 'write');
    try {
      if (r.name === null) throw notAFile(input, r.dirPath.join('/') || '.');
      const name = r.name;
      const display = [...r.dirPath, name].join('/');
      if (r.stats) this.#checkFile(r.stats, input, display, 'write');
      await this.#beforeOpen?.(display);
      await this.#verify(r.dir, input, r.dirPath.join('/') || '.');
      const temp = `.${name.slice(0, 100)}.${randomBytes(6).toString('hex')}.tmp`;
      const handle = await open(at(r.dir, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, r.stats ? r.stats.mode & 0o777 : 0o644);
      let renamed = false;
      try {
        await handle.writeFile(content, 'utf8');
        await handle.sync();
        await this.#verify(handle, input, display);
        await handle.close();
        const now = await lstat(at(r.dir, name)).catch((error: unknown) => {
          if (codeOf(error) === 'ENOENT') return null;
          throw error;
        });
        if (now?.isSymbolicLink()) throw changedDuringOpen(input, display, 'became a symbolic link');
        if (now) this.#checkFile(now, input, display, 'write');
        await rename(at(r.dir, temp), at(r.dir, name));
        renamed = true;
      } finally {
        await handle.close().catch(() => {});
        if (!renamed) await unlink(at(r.dir, temp)).catch(() => {});
      }
      return { path: display, bytes: Buffer.byteLength(content, 'utf8'), created: r.stats === null };
    } finally {
      await r.dir.close();
    }
  }

  /** Opens a folder inside the workspace; `path` is relative to the root ("." for the root). */
  openDirectory(input: string): Promise<{ handle: FileHandle; path: string; realPath: string }> {
    return guard(input, input, () => this.#openDirectory(input));
  }

  async #openDirectory(input: string): Promise<{ handle: FileHandle; path: string; realPath: string }> {
    const r = await this.#resolve(input, 'directory');
    if (r.name === null) {
      const display = r.dirPath.join('/') || '.';
      try {
        return { handle: r.dir, path: display, realPath: await this.#verify(r.dir, input, display) };
      } catch (error) {
        await r.dir.close();
        throw error;
      }
    }
    try {
      const display = [...r.dirPath, r.name].join('/');
      if (!r.stats?.isDirectory()) {
        throw refuse('not_a_directory', input, `"${display}" is a ${r.stats ? kindOf(r.stats) : 'missing entry'}, not a folder.`);
      }
      const handle = await this.#openDirAt(r.dir, r.name, r.stats, input, display);
      try {
        return { handle, path: display, realPath: await this.#verify(handle, input, display) };
      } catch (error) {
        await handle.close();
        throw error;
      }
    } finally {
      await r.dir.close();
    }
  }

  /**
   * Lists up to `max` entries of a held folder (in the order the file system gives them) without
   * following anything; `input` is the path the caller asked for, `display` the folder's own.
   */
  entries(dir: FileHandle, input: string, display: string, options: { max: number; signal?: AbortSignal }): Promise<{ entries: Dirent[]; cut: boolean }> {
    return guard(input, display, async () => {
      const entries: Dirent[] = [];
      const stream = await opendir(`/proc/self/fd/${dir.fd}`, { bufferSize: 256 });
      try {
        for (let entry = await stream.read(); entry !== null; entry = await stream.read()) {
          if (entries.length >= options.max) return { entries, cut: true };
          if (entries.length % 256 === 0) options.signal?.throwIfAborted();
          entries.push(entry);
        }
      } finally {
        await stream.close().catch(() => {});
      }
      return { entries, cut: false };
    });
  }

  /** Opens a child folder of a held folder, or returns null when it is not a plain folder (symlinks are skipped). */
  async openChildDirectory(dir: FileHandle, name: string): Promise<FileHandle | null> {
    return open(at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(() => null);
  }

  /** Reads a child file of a held folder with every file check; throws `WorkspaceError` when it is refused. */
  readChild(dir: FileHandle, name: string, display: string, signal?: AbortSignal): Promise<Buffer> {
    return guard(display, display, async () => {
      const st = await lstat(at(dir, name));
      this.#checkFile(st, display, display, 'read');
      const file = await this.#openFileAt(dir, name, display, display);
      try {
        return await this.#readOpened(file.handle, display, display, signal);
      } finally {
        await file.handle.close();
      }
    });
  }

  /** Reads an opened file to its end, refusing it when it grows past `maxReadBytes`. */
  readOpened(handle: FileHandle, display: string, input: string, signal?: AbortSignal): Promise<Buffer> {
    return guard(input, display, () => this.#readOpened(handle, display, input, signal));
  }

  async #readOpened(handle: FileHandle, display: string, input: string, signal: AbortSignal | undefined): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      signal?.throwIfAborted();
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > this.maxReadBytes) throw tooLarge(input, display, total, true, this.maxReadBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  }

  async #resolve(input: string, intent: Intent): Promise<Resolved> {
    const pending = this.#split(input, intent);
    const stack: FileHandle[] = [await this.#openRoot(input)];
    const names: string[] = [];
    let hops = 0;
    let viaLink = false;
    try {
      while (pending.length > 0) {
        const name = pending.shift()!;
        if (name === '' || name === '.') continue;
        const dir = stack[stack.length - 1]!;
        if (name === '..') {
          if (names.length === 0) throw outside(input, viaLink);
          names.pop();
          await stack.pop()!.close();
          continue;
        }
        const last = pending.every((p) => p === '' || p === '.');
        const here = [...names, name].join('/');
        let st = await this.#lstat(dir, name);
        if (st === null) {
          if (intent !== 'write') {
            throw refuse('not_found', input, `"${here}" does not exist in the workspace; use list_files to see what exists.`);
          }
          if (last) return { dir: stack.pop()!, dirPath: [...names], name, stats: null };
          await mkdir(at(dir, name)).catch((error: unknown) => {
            if (codeOf(error) !== 'EEXIST') throw error;
          });
          st = await this.#lstat(dir, name);
          if (st === null) throw changedDuringOpen(input, here, 'disappeared right after it was created');
        }
        if (st.isSymbolicLink()) {
          if (++hops > MAX_LINK_HOPS) {
            throw refuse('symlink_loop', input, `"${input}" goes through more than ${MAX_LINK_HOPS} symbolic links (a loop?).`);
          }
          const target = await readlink(at(dir, name));
          viaLink = true;
          if (path.isAbsolute(target)) {
            const inside = this.#insideRoot(target);
            if (inside === null) {
              throw refuse(
                'symlink_outside',
                input,
                `"${here}" is a symbolic link to "${target}", outside the workspace root; only links that stay inside the workspace are followed.`,
              );
            }
            while (stack.length > 1) await stack.pop()!.close();
            names.length = 0;
            pending.unshift(...inside.split('/'));
          } else {
            pending.unshift(...target.split('/'));
          }
          continue;
        }
        if (last) return { dir: stack.pop()!, dirPath: [...names], name, stats: st };
        if (!st.isDirectory()) {
          throw refuse('not_a_directory', input, `"${here}" is a ${kindOf(st)}, not a folder, so "${input}" cannot be inside it.`);
        }
        stack.push(await this.#openDirAt(dir, name, st, input, here));
        names.push(name);
      }
      return { dir: stack.pop()!, dirPath: [...names], name: null, stats: null };
    } finally {
      for (const handle of stack) await handle.close();
    }
  }

  #split(input: unknown, intent: Intent): string[] {
    if (typeof input !== 'string') throw refuse('invalid_path', String(input), `The path must be a string; found ${typeof input}.`);
    const example = intent === 'directory' ? '"src" (or "." for the workspace root)' : '"src/index.ts"';
    if (input === '') throw refuse('invalid_path', input, `The path is empty; give a path relative to the workspace root, e.g. ${example}.`);
    if (input.includes('\0')) throw refuse('invalid_path', input, `The path ${JSON.stringify(input)} contains a NUL byte; remove it.`);
    if (input.length > MAX_PATH_CHARS) throw refuse('invalid_path', input, `The path is longer than ${MAX_PATH_CHARS} characters.`);
    let relative = input;
    if (path.isAbsolute(input)) {
      const inside = this.#insideRoot(input);
      if (inside === null) {
        throw refuse('outside_root', input, `"${input}" is an absolute path outside the workspace; use a path relative to the workspace root, e.g. ${example}.`);
      }
      relative = inside;
    }
    const normal = path.posix.normalize(relative);
    if (normal === '..' || normal.startsWith('../')) throw outside(input, false);
    return relative.split('/');
  }

  #insideRoot(absolute: string): string | null {
    if (absolute === this.root) return '.';
    return absolute.startsWith(this.#prefix) ? absolute.slice(this.#prefix.length) : null;
  }

  async #openRoot(input: string): Promise<FileHandle> {
    const handle = await open(this.root, O_RDONLY | O_DIRECTORY);
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    if (real !== this.root) {
      await handle.close();
      throw changedDuringOpen(input, '.', `was replaced (now "${real}")`);
    }
    return handle;
  }

  async #lstat(dir: FileHandle, name: string): Promise<Stats | null> {
    try {
      return await lstat(at(dir, name));
    } catch (error) {
      if (codeOf(error) === 'ENOENT') return null;
      throw error;
    }
  }

  async #openDirAt(dir: FileHandle, name: string, seen: Stats, input: string, display: string): Promise<FileHandle> {
    let handle: FileHandle;
    try {
      handle = await open(at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (error) {
      if (RACE_CODES.has(codeOf(error) ?? '')) throw changedDuringOpen(input, display, 'stopped being a plain folder');
      throw error;
    }
    const st = await handle.stat();
    if (st.ino !== seen.ino || st.dev !== seen.dev) {
      await handle.close();
      throw changedDuringOpen(input, display, 'was replaced by another folder');
    }
    return handle;
  }

  async #openFileAt(dir: FileHandle, name: string, display: string, input: string): Promise<OpenedFile> {
    let handle: FileHandle;
    try {
      handle = await open(at(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    } catch (error) {
      if (RACE_CODES.has(codeOf(error) ?? '')) throw changedDuringOpen(input, display, 'became a symbolic link or disappeared');
      if (codeOf(error) === 'ENXIO') throw changedDuringOpen(input, display, 'became a special file');
      throw error;
    }
    try {
      const stats = await handle.stat();
      this.#checkFile(stats, input, display, 'read');
      await this.#verify(handle, input, display);
      return { handle, path: display, stats };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async #verify(handle: FileHandle, input: string, display: string): Promise<string> {
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    if (real !== this.root && !real.startsWith(this.#prefix)) throw changedDuringOpen(input, display, 'was moved outside the workspace root');
    return real;
  }

  #checkFile(st: Stats, input: string, display: string, intent: 'read' | 'write'): void {
    if (st.isDirectory()) throw notAFile(input, display);
    if (!st.isFile()) {
      throw refuse(
        'special_file',
        input,
        `"${display}" is a ${kindOf(st)}; devices, FIFOs and sockets are never opened. Only regular files can be ${intent === 'read' ? 'read' : 'written'}.`,
      );
    }
    if (st.nlink > 1 && (intent === 'write' || !this.#allowHardLinkedReads)) {
      throw refuse(
        'hard_link',
        input,
        `"${display}" has ${st.nlink} hard links, so it may be the same file as one outside the workspace; hard-linked files are refused for ${intent}s. Ask the user to replace it with a plain copy.`,
      );
    }
    if (intent === 'read' && st.size > this.maxReadBytes) throw tooLarge(input, display, st.size, false, this.maxReadBytes);
  }
}
