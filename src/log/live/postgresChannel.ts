import type { Client, ClientConfig } from 'pg';
import { importPeer } from '../../importPeer.ts';
import { deliver, parseLiveMessage, type LiveChannel, type LiveMessage } from './liveChannel.ts';

export interface PostgresChannelOptions {
  /** How to connect: the store's connection string and settings. */
  connection: ClientConfig;
  /** The store's schema: runs of different schemas talk on different channels. */
  schema: string;
  /** How long the publishing connection stays open with nothing to send. */
  idleMs?: number;
}

/** NOTIFY refuses payloads of 8000 bytes or more; a message's JSON stays well under it. */
export const MAX_PAYLOAD_BYTES = 7800;
/** UTF-16 units of text per piece: even escaped as \uXXXX (6 bytes each) a piece fits in one payload. */
const PIECE_UNITS = 1200;

/** A message as NOTIFY payloads: a long delta's text split in pieces, sent in order, each a delta of its own. */
export function payloads(message: LiveMessage): string[] {
  const whole = JSON.stringify(message);
  if (Buffer.byteLength(whole) <= MAX_PAYLOAD_BYTES) return [whole];
  if (message.type === 'cancel') return [JSON.stringify({ ...message, reason: message.reason.slice(0, PIECE_UNITS) })];
  const pieces: string[] = [];
  for (let at = 0; at < message.text.length; ) {
    let end = Math.min(message.text.length, at + PIECE_UNITS);
    // A surrogate pair is never cut in two.
    if (end < message.text.length && /[\uD800-\uDBFF]/.test(message.text[end - 1]!)) end -= 1;
    pieces.push(JSON.stringify({ ...message, text: message.text.slice(at, end) }));
    at = end;
  }
  return pieces;
}

/**
 * The live channel of a PostgreSQL store: NOTIFY on one channel per schema, LISTEN on it while
 * something in this process subscribes. A connection of its own publishes (so that notifications
 * leave in the order published) and closes when idle; another listens.
 */
export class PostgresChannel implements LiveChannel {
  readonly name: string;
  readonly #options: PostgresChannelOptions;
  #publisher: Promise<Client> | undefined;
  #idle: NodeJS.Timeout | undefined;
  #sending: Promise<void> = Promise.resolve();
  #listener: Promise<Client> | undefined;
  readonly #listeners = new Map<string, Set<(message: LiveMessage) => void>>();
  #closed = false;

  constructor(options: PostgresChannelOptions) {
    this.#options = options;
    this.name = `statecraft_live_${options.schema}`.slice(0, 63);
  }

  async #connect(): Promise<Client> {
    const { default: pg } = await importPeer(() => import('pg'), 'pg', 'PostgreSQL stores need');
    const client = new pg.Client(this.#options.connection);
    client.on('error', () => {});
    await client.connect();
    return client;
  }

  publish(message: LiveMessage): void {
    if (this.#closed) return;
    const publisher = (this.#publisher ??= this.#connect());
    publisher.catch(() => {
      if (this.#publisher === publisher) this.#publisher = undefined;
    });
    // One after another on one connection: notifications arrive in the order they were sent.
    for (const payload of payloads(message)) {
      this.#sending = this.#sending
        .then(() => publisher)
        .then((client) => client.query('SELECT pg_notify($1, $2)', [this.name, payload]))
        .then(
          () => undefined,
          () => this.#drop(publisher),
        );
    }
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => void this.#sending.then(() => this.#drop(publisher)), this.#options.idleMs ?? 2000);
    this.#idle.unref();
  }

  /** Closes the publishing connection (idle, or failed): the next message opens another. */
  #drop(publisher: Promise<Client>): void {
    if (this.#publisher !== publisher) return;
    this.#publisher = undefined;
    void publisher.then((client) => client.end()).catch(() => undefined);
  }

  async subscribe(runId: string, listener: (message: LiveMessage) => void): Promise<() => void> {
    let listeners = this.#listeners.get(runId);
    if (!listeners) this.#listeners.set(runId, (listeners = new Set()));
    const own = (message: LiveMessage) => listener(message);
    listeners.add(own);
    const unsubscribe = () => {
      listeners.delete(own);
      if (!listeners.size && this.#listeners.get(runId) === listeners) this.#listeners.delete(runId);
      if (!this.#listeners.size) this.#unlisten();
    };
    try {
      await this.#listen();
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  #listen(): Promise<Client> {
    if (this.#listener) return this.#listener;
    const listening = this.#connect().then(async (client) => {
      client.on('notification', ({ channel, payload }) => {
        if (channel !== this.name || payload === undefined) return;
        let message: LiveMessage | undefined;
        try {
          message = parseLiveMessage(JSON.parse(payload));
        } catch {
          return;
        }
        if (!message) return;
        for (const listener of [...(this.#listeners.get(message.runId) ?? [])]) deliver(listener, message);
      });
      // A lost connection is made again by the next subscriber.
      client.on('error', () => {
        if (this.#listener === listening) this.#listener = undefined;
      });
      await client.query(`LISTEN "${this.name}"`);
      return client;
    });
    this.#listener = listening;
    listening.catch(() => {
      if (this.#listener === listening) this.#listener = undefined;
    });
    return listening;
  }

  #unlisten(): void {
    const listener = this.#listener;
    this.#listener = undefined;
    void listener?.then((client) => client.end()).catch(() => undefined);
  }

  endStep(_runId: string): void {}

  endRun(_runId: string): void {}

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idle);
    this.#listeners.clear();
    await this.#sending;
    const clients = [this.#publisher, this.#listener];
    this.#publisher = this.#listener = undefined;
    await Promise.all(clients.map((client) => client?.then((c) => c.end()).catch(() => undefined)));
  }
}
