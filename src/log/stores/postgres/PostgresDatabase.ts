import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { StorageError, UserError } from '../../../errors.ts';
import { importPeer } from '../../../importPeer.ts';
import { StoreNotFoundError } from '../../format/storageErrors.ts';
import type { PostgresPoolSettings } from './poolSettings.ts';
import { SCHEMA_MARK, schemaStatements } from './postgresSchema.ts';

export interface PostgresDatabaseOptions {
  connectionString: string;
  schema: string;
  pool?: PostgresPoolSettings;
  /** Refuse a schema that does not exist yet instead of creating it. */
  mustExist?: boolean;
}

const redact = (url: string): string => url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');

/**
 * The run store's schema in one PostgreSQL database and the connections to it: the pool (pg, an
 * optional peer dependency, loaded on first use), the schema made once, reads and transactions
 * whose failures say where the database is.
 */
export class PostgresDatabase {
  readonly schema: string;
  /** The schema's name quoted for SQL. */
  readonly s: string;
  /** Where the database is, with any password hidden, for messages. */
  readonly where: string;
  readonly poolSettings: PostgresPoolSettings & { connectionString: string };
  readonly #mustExist: boolean;
  #pool: Promise<Pool> | undefined;
  #ready: Promise<void> | undefined;

  constructor(options: PostgresDatabaseOptions) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(options.schema)) {
      throw new UserError(`PostgreSQL schema name "${options.schema}" is not allowed: use letters, digits and underscores, starting with a letter or underscore.`);
    }
    this.schema = options.schema;
    this.s = `"${options.schema}"`;
    this.where = redact(options.connectionString);
    this.#mustExist = options.mustExist ?? false;
    this.poolSettings = { ...options.pool, connectionString: options.connectionString };
  }

  /** The connection pool, made on first use: pg, an optional peer dependency, is loaded then. */
  connections(): Promise<Pool> {
    this.#pool ??= importPeer(() => import('pg'), 'pg', 'PostgreSQL stores need').then(
      ({ default: pg }) => {
        const pool = new pg.Pool(this.poolSettings);
        pool.on('error', () => {});
        return pool;
      },
      (error: unknown) => {
        this.#pool = undefined;
        throw error;
      },
    );
    return this.#pool;
  }

  async #init(): Promise<void> {
    await this.transaction(async (client) => {
      if (this.#mustExist) {
        const { rows } = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [`${this.s}.runs`]);
        if (!rows[0]?.found) {
          throw new StoreNotFoundError(
            `No run store in schema "${this.schema}" at ${this.where}: no run was recorded there. Name the store that holds the runs with --store (or STATECRAFT_STORE), for example postgres://…?schema=statecraft.`,
          );
        }
      }
      // A schema this version made already is left alone: its DDL would lock the tables against the
      // appends of other processes (workers starting beside running ones), and could deadlock with them.
      const current = async () => (await client.query<{ mark: string | null }>(`SELECT obj_description(to_regnamespace($1)::oid, 'pg_namespace') AS mark`, [this.s])).rows[0]?.mark === SCHEMA_MARK;
      if (await current()) return;
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`statecraft:${this.schema}`]);
      if (await current()) return;
      for (const statement of schemaStatements(this.s)) await client.query(statement);
      // A role that does not own the schema cannot comment on it: it runs the (idempotent) statements every time instead.
      await client.query(`DO $$ BEGIN COMMENT ON SCHEMA ${this.s} IS '${SCHEMA_MARK}'; EXCEPTION WHEN insufficient_privilege THEN NULL; END $$`);
    }, false);
  }

  /** The schema, created once; a failed attempt is tried again by the next call. */
  whenReady(): Promise<void> {
    return (this.#ready ??= this.#init().catch((error: unknown) => ((this.#ready = undefined), Promise.reject(error))));
  }

  /** One read statement outside a transaction, once the schema exists. */
  async query<R extends QueryResultRow>(sql: string, params: unknown[]): Promise<QueryResult<R>> {
    await this.whenReady();
    const pool = await this.connections();
    try {
      return await pool.query<R>(sql, params);
    } catch (error) {
      throw new StorageError(`PostgreSQL at ${this.where} failed a read: ${(error as Error).message}. Check that the server runs and the connection string.`, { cause: error });
    }
  }

  /** `work` in one transaction on a connection of the pool, once the schema exists (unless `init` is false). */
  async transaction<T>(work: (client: PoolClient) => Promise<T>, init = true): Promise<T> {
    if (init) await this.whenReady();
    const pool = await this.connections();
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new StorageError(`Could not connect to PostgreSQL at ${this.where}: ${(error as Error).message}. Check that the server runs and the connection string.`, {
        cause: error,
      });
    }
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    const pool = await this.#pool?.catch(() => undefined);
    if (pool && !pool.ended && !pool.ending) await pool.end();
  }
}
