import { createHash, randomUUID } from 'node:crypto';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { appendFile, mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLine, readRange, splitLines, type Line } from './fileLines.ts';
import { deliver, parseLiveMessage, type LiveChannel, type LiveMessage } from './liveChannel.ts';

export interface FileChannelOptions {
  /** The folder of the channel's files, beside the database (`runs.db.live`). */
  dir: string;
  /** Bytes of text one step of a run may put in its file; what is published beyond is dropped. */
  maxStepBytes?: number;
  /** How often subscribers look at the files when the folder cannot be watched (8 times less often while it is). */
  pollMs?: number;
  /** How long a step's text stays after the step ended, for readers a little behind. */
  graceMs?: number;
}

interface Tail {
  path: string;
  ino: number | undefined;
  offset: number;
  partial: Buffer;
  /** The incarnation of the file being read: a file removed and written again may get the same inode. */
  g: string | undefined;
}

interface Subscription {
  runId: string;
  listeners: Set<(message: LiveMessage) => void>;
  tails: Tail[];
  busy: boolean;
  again: boolean;
}

const MAX_REQUEST_BYTES = 64 * 1024;

const fileKey = (runId: string) => createHash('sha256').update(runId).digest('hex').slice(0, 32);
/** A file's stat, undefined when it is missing or unreadable: synchronous, as the store's own reads of the database beside it, and a missing file (the usual case) costs no exception. */
const statOf = (path: string) => { try { return statSync(path, { throwIfNoEntry: false }); } catch { return undefined; } };

/**
 * The live channel of a SQLite store: for each run, a file of its streaming text (removed when the
 * step ends, bounded in size) and a file of requests to the process running it (removed when the run
 * ends there), in a folder next to the database. Writers append JSON lines; readers watch the folder
 * and read what was added.
 */
export class FileChannel implements LiveChannel {
  readonly dir: string;
  readonly #maxStepBytes: number;
  readonly #pollMs: number;
  /** Lines not yet appended, by file; appended in order, one batch after another. */
  readonly #pending = new Map<string, string[]>();
  #writing: Promise<void> = Promise.resolve();
  #flushQueued = false;
  /** Per text file this process writes: its incarnation, lines and bytes written so far. */
  readonly #written = new Map<string, { g: string; n: number; bytes: number }>();
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #byKey = new Map<string, Subscription>(); // the same, by their files' key, for the watcher
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #graceMs: number;
  readonly #removals = new Set<() => void>();

  constructor(options: FileChannelOptions) {
    this.dir = options.dir;
    this.#maxStepBytes = options.maxStepBytes ?? 256 * 1024;
    this.#pollMs = options.pollMs ?? 250;
    this.#graceMs = options.graceMs ?? 1000;
  }

  #textFile = (runId: string) => join(this.dir, `${fileKey(runId)}.text`);
  #requestFile = (runId: string) => join(this.dir, `${fileKey(runId)}.requests`);

  publish(message: LiveMessage): void {
    if (this.#closed) return;
    let path: string;
    let line: string;
    if (message.type === 'delta') {
      path = this.#textFile(message.runId);
      let written = this.#written.get(path);
      if (!written) this.#written.set(path, (written = { g: randomUUID(), n: 0, bytes: 0 }));
      line = `${JSON.stringify({ ...message, g: written.g, n: written.n })}\n`;
      const bytes = Buffer.byteLength(line);
      if (written.bytes + bytes > this.#maxStepBytes) return;
      written.n += 1;
      written.bytes += bytes;
    } else {
      path = this.#requestFile(message.runId);
      line = `${JSON.stringify(message)}\n`;
      if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return;
    }
    const lines = this.#pending.get(path);
    if (lines) lines.push(line);
    else this.#pending.set(path, [line]);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Appends what is pending, after what was appended before; failures are dropped with the lines. */
  #flush(): Promise<void> {
    this.#flushQueued = false;
    const batch = [...this.#pending];
    this.#pending.clear();
    if (!batch.length) return this.#writing;
    return this.#then(async () => {
      await mkdir(this.dir, { recursive: true });
      for (const [path, lines] of batch) await appendFile(path, lines.join(''));
    });
  }

  #then(work: () => Promise<unknown>): Promise<void> {
    this.#writing = this.#writing.then(work).then(
      () => undefined,
      () => undefined,
    );
    return this.#writing;
  }

  /**
   * The step's text goes once readers had a moment to read its end (`graceMs`), unless the next step
   * started writing to the file by then: its next end removes both.
   */
  endStep(runId: string): void {
    const path = this.#textFile(runId);
    if (!this.#written.delete(path)) return;
    void this.#flush();
    this.#later(() => (this.#written.has(path) ? Promise.resolve() : unlink(path)));
  }

  endRun(runId: string): void {
    this.endStep(runId);
    void this.#flush();
    this.#later(() => unlink(this.#requestFile(runId)));
  }

  /** Runs `work` after the grace period, or at once when the channel closes. */
  #later(work: () => Promise<unknown>): void {
    const run = () => {
      this.#removals.delete(run);
      clearTimeout(timer);
      void this.#then(work);
    };
    const timer = setTimeout(run, this.#graceMs);
    timer.unref();
    this.#removals.add(run);
  }

  async subscribe(runId: string, listener: (message: LiveMessage) => void): Promise<() => void> {
    let subscription = this.#subscriptions.get(runId);
    if (!subscription) {
      const tails = await Promise.all([this.#textFile(runId), this.#requestFile(runId)].map((path) => this.#tailFromNow(path)));
      subscription = this.#subscriptions.get(runId) ?? { runId, listeners: new Set(), tails, busy: false, again: false };
      this.#subscriptions.set(runId, subscription);
      this.#byKey.set(fileKey(runId), subscription);
      await this.#watch();
    }
    const own = (message: LiveMessage) => listener(message);
    subscription.listeners.add(own);
    const held = subscription;
    return () => {
      held.listeners.delete(own);
      if (held.listeners.size || this.#subscriptions.get(runId) !== held) return;
      this.#subscriptions.delete(runId);
      this.#byKey.delete(fileKey(runId));
      if (!this.#subscriptions.size) this.#unwatch();
    };
  }

  /** A reader of `path` that starts at its end now, knowing which incarnation of the file that is. */
  async #tailFromNow(path: string): Promise<Tail> {
    const tail: Tail = { path, ino: undefined, offset: 0, partial: Buffer.alloc(0), g: undefined };
    const info = statOf(path);
    if (!info) return tail; // No file yet: everything in it will be new.
    try {
      tail.ino = info.ino;
      const text = await readRange(path, 0, info.size);
      tail.offset = text.length;
      const newline = text.indexOf(10);
      tail.partial = newline < 0 ? text : text.subarray(text.lastIndexOf(10) + 1);
      const first = newline < 0 ? undefined : parseLine(text.subarray(0, newline));
      tail.g = first?.g;
    } catch {
      // Gone since: everything in it will be new.
    }
    return tail;
  }

  async #watch(): Promise<void> {
    if (this.#watcher || this.#timer) return;
    // While the folder is watched the timer is a safety net (every 8th tick): each check stats two files per subscribed run.
    let tick = 0;
    this.#timer = setInterval(() => (!this.#watcher || ++tick % 8 === 0) && this.#checkAll(), this.#pollMs);
    this.#timer.unref();
    try {
      await mkdir(this.dir, { recursive: true });
      // A change names its file, and so its run: only that run's files are read again. Without a name, all are.
      const watcher = (this.#watcher = watch(this.dir, { persistent: false }, (_event, name) => this.#checkChanged(name)));
      watcher.on('error', () => (watcher.close(), this.#watcher === watcher && (this.#watcher = undefined)));
    } catch {
      // A folder this user cannot write or watch: the timer alone reads it.
    }
  }

  #unwatch(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #checkAll(): void {
    for (const subscription of this.#subscriptions.values()) void this.#check(subscription);
  }

  #checkChanged(name: string | null): void {
    const key = name?.replace(/\.(text|requests)$/, '');
    if (key === undefined || key === name) return this.#checkAll();
    const subscription = this.#byKey.get(key);
    if (subscription) void this.#check(subscription);
  }

  async #check(subscription: Subscription): Promise<void> {
    if (subscription.busy) {
      subscription.again = true;
      return;
    }
    subscription.busy = true;
    try {
      do {
        subscription.again = false;
        for (const tail of subscription.tails) await this.#read(subscription, tail);
      } while (subscription.again && !this.#closed);
    } finally {
      subscription.busy = false;
    }
  }

  async #read(subscription: Subscription, tail: Tail): Promise<void> {
    const info = statOf(tail.path);
    if (!info) return void Object.assign(tail, { ino: undefined, offset: 0, partial: Buffer.alloc(0), g: undefined });
    if (info.ino !== tail.ino || info.size < tail.offset) Object.assign(tail, { ino: info.ino, offset: 0, partial: Buffer.alloc(0), g: undefined });
    if (info.size === tail.offset) return;
    const startedMid = tail.offset > 0;
    const chunk = await readRange(tail.path, tail.offset, info.size).catch(() => Buffer.alloc(0));
    const text = Buffer.concat([tail.partial, chunk]);
    const end = text.lastIndexOf(10);
    const lines: Line[] = [];
    for (const raw of end < 0 ? [] : splitLines(text.subarray(0, end))) {
      const line = parseLine(raw);
      if (!line) continue;
      if (line.g !== undefined && line.g !== tail.g) {
        // A file written again since it was last read, on a reused inode: read it from its start.
        if (startedMid && line.n !== 0) {
          Object.assign(tail, { offset: 0, partial: Buffer.alloc(0), g: line.g });
          subscription.again = true;
          return this.#deliverFrom(subscription, tail, line.g);
        }
        tail.g = line.g;
      }
      lines.push(line);
    }
    tail.offset += chunk.length;
    tail.partial = end < 0 ? text : text.subarray(end + 1);
    for (const line of lines) this.#deliver(subscription, line);
  }

  /** Reads a file again from its start, delivering the lines of incarnation `g` only. */
  async #deliverFrom(subscription: Subscription, tail: Tail, g: string): Promise<void> {
    const text = await readRange(tail.path, 0, Number.MAX_SAFE_INTEGER).catch(() => Buffer.alloc(0));
    const end = text.lastIndexOf(10);
    tail.offset = text.length;
    tail.partial = end < 0 ? text : text.subarray(end + 1);
    for (const raw of end < 0 ? [] : splitLines(text.subarray(0, end))) {
      const line = parseLine(raw);
      if (line && line.g === g) this.#deliver(subscription, line);
    }
  }

  #deliver(subscription: Subscription, line: Line): void {
    const message = parseLiveMessage(line);
    if (!message || message.runId !== subscription.runId) return;
    for (const listener of [...subscription.listeners]) deliver(listener, message);
  }

  async close(): Promise<void> {
    void this.#flush();
    for (const removal of [...this.#removals]) removal();
    this.#closed = true;
    this.#subscriptions.clear();
    this.#byKey.clear();
    this.#unwatch();
    await this.#writing;
  }
}
