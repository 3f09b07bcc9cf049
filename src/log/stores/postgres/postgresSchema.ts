/**
 * Written as the schema's comment once `schemaStatements` ran: a store that finds it runs no DDL. Change
 * it whenever the statements change, so that schemas made before get what they lack.
 */
export const SCHEMA_MARK = 'statecraft run store, schema 6 (run leases with tenants and queue times, machine graphs, queued decisions, threads)';

/** SQLSTATEs raised by append_records. */
export const NO_SUCH_RUN = 'SC404';
export const UNEXPECTED_SEQ = 'SC409';
/** The record a batch was chained from is not the one stored before it (the store's cache of the run's last record is stale). */
export const STALE_CHAIN = 'SC412';
/** The append names a lease (fencing epoch) that is no longer the run's live one, or names none while a worker holds the run. */
export const LEASE_LOST = 'SC423';

/**
 * An append in one statement: one round trip, where a transaction of separate statements takes five
 * (begin, lock and read, insert, summary, commit). It locks the run's row, so two writers of one run queue and the second finds the seq
 * taken; commits wait for the WAL flush only when asked (a side effect is about to start): otherwise
 * a crash of this process loses nothing, and a crash of the database server loses at most its last
 * few commits, which resume treats like any interrupted step. The summary is merged as SQLite's
 * json_patch does on the top level: the patch's fields replace the stored ones and its nulls remove them.
 * A batch of a chained run was sealed from the record before it as the client last saw it: the SHA-256
 * of that record's stored body (`p_previous`) must match the one stored, or the batch is refused as stale.
 * Fencing: a worker appends with the epoch of its lease (`p_epoch`); the append goes through only
 * while that lease is the run's current one, held, and unexpired by the database's clock. The lease
 * row is locked (shared) until the append commits, so a take-over waits for an append under way and
 * reads the run after it. An append without an epoch is refused while a worker holds the run.
 */
const appendFunction = (s: string) => `
CREATE OR REPLACE FUNCTION ${s}.append_records(
  p_run text, p_expected integer, p_bodies bytea[], p_patches bytea[], p_snapshots bytea[],
  p_chunk_ids text[], p_chunk_data bytea[], p_point_seqs integer[], p_point_roots bytea[], p_summary text, p_sync boolean,
  p_previous bytea, p_epoch bigint
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  last_seq integer;
  patch jsonb := p_summary::jsonb;
  l_owner text;
  l_epoch bigint;
  l_live boolean;
  leased boolean;
BEGIN
  IF NOT p_sync THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  PERFORM 1 FROM ${s}.runs WHERE run_id = p_run FOR UPDATE;
  IF NOT FOUND THEN RAISE EXCEPTION 'run % not found', p_run USING ERRCODE = '${NO_SUCH_RUN}'; END IF;
  SELECT owner, epoch, owner IS NOT NULL AND expires_at > clock_timestamp() INTO l_owner, l_epoch, l_live
    FROM ${s}.run_leases WHERE run_id = p_run FOR SHARE;
  leased := FOUND;
  IF (p_epoch IS NOT NULL AND NOT (leased AND l_epoch = p_epoch AND l_live)) OR (p_epoch IS NULL AND leased AND l_live) THEN
    RAISE EXCEPTION 'run % lease epoch % is not held', p_run, p_epoch USING ERRCODE = '${LEASE_LOST}',
      DETAIL = json_build_object('epoch', l_epoch, 'owner', l_owner, 'live', l_live)::text;
  END IF;
  SELECT coalesce(max(seq), -1) INTO last_seq FROM ${s}.records WHERE run_id = p_run;
  IF last_seq <> p_expected - 1 THEN
    RAISE EXCEPTION 'run % expected seq %, last is %', p_run, p_expected, last_seq USING ERRCODE = '${UNEXPECTED_SEQ}', DETAIL = last_seq::text;
  END IF;
  IF p_previous IS NOT NULL THEN
    PERFORM 1 FROM ${s}.records WHERE run_id = p_run AND seq = p_expected - 1 AND sha256(body) = p_previous;
    IF NOT FOUND THEN RAISE EXCEPTION 'run % record % changed since it was read', p_run, p_expected - 1 USING ERRCODE = '${STALE_CHAIN}'; END IF;
  END IF;
  INSERT INTO ${s}.records (run_id, seq, body, patch, snapshot)
    SELECT p_run, p_expected + (t.n - 1)::integer, t.body, t.patch, t.snapshot
    FROM unnest(p_bodies, p_patches, p_snapshots) WITH ORDINALITY AS t(body, patch, snapshot, n);
  IF cardinality(p_chunk_ids) > 0 THEN
    INSERT INTO ${s}.state_chunks (run_id, id, data) SELECT p_run, t.id, t.data FROM unnest(p_chunk_ids, p_chunk_data) AS t(id, data) ON CONFLICT DO NOTHING;
  END IF;
  IF cardinality(p_point_seqs) > 0 THEN
    INSERT INTO ${s}.state_index (run_id, seq, root) SELECT p_run, t.seq, t.root FROM unnest(p_point_seqs, p_point_roots) AS t(seq, root)
      ON CONFLICT (run_id, seq) DO UPDATE SET root = excluded.root;
  END IF;
  UPDATE ${s}.runs SET
    status = coalesce(patch->>'status', status),
    updated_at = (patch->>'updatedAt')::timestamptz,
    summary = ((summary::jsonb || patch) - ARRAY(SELECT key FROM jsonb_each(patch) WHERE value = 'null'::jsonb))::text
  WHERE run_id = p_run;
END
$fn$`;

/**
 * A run's thread and tenant, as columns filled from its header's labels when it is created (the
 * service's runs name their thread with the label `thread`). A table made before gets them filled
 * from its headers once, when the columns are added; a header that is not JSON leaves its run out.
 */
const threadColumns = (s: string) => `
DO $do$ DECLARE r record; BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('${s}.runs') AND attname = 'thread' AND NOT attisdropped) THEN RETURN; END IF;
  ALTER TABLE ${s}.runs ADD COLUMN thread text, ADD COLUMN tenant text;
  FOR r IN SELECT run_id, header FROM ${s}.runs WHERE header LIKE '%thread%' OR header LIKE '%statecraft.tenant%' LOOP
    BEGIN
      UPDATE ${s}.runs SET thread = coalesce(r.header::jsonb->'labels'->>'statecraft.thread', r.header::jsonb->'labels'->>'thread'),
        tenant = r.header::jsonb->'labels'->>'statecraft.tenant' WHERE run_id = r.run_id;
    EXCEPTION WHEN others THEN NULL;
    END;
  END LOOP;
END $do$`;

/**
 * The PostgreSQL store's tables, indexes and append function under one schema (`s`, quoted), in the
 * order they are created. Every statement is safe to run again: a schema made by an earlier version
 * gets what it lacks.
 */
export const schemaStatements = (s: string): string[] => [
  `CREATE SCHEMA IF NOT EXISTS ${s}`,
  `CREATE TABLE IF NOT EXISTS ${s}.runs (
    run_id text PRIMARY KEY, agent_id text NOT NULL, status text NOT NULL, parent_run_id text,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, header text NOT NULL, summary text NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS runs_by_updated ON ${s}.runs (updated_at DESC, run_id)`,
  threadColumns(s),
  `CREATE INDEX IF NOT EXISTS runs_by_thread ON ${s}.runs (thread, updated_at DESC) WHERE thread IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS ${s}.records (
    run_id text NOT NULL REFERENCES ${s}.runs (run_id) ON DELETE CASCADE, seq integer NOT NULL,
    body bytea NOT NULL, snapshot bytea, PRIMARY KEY (run_id, seq))`,
  `CREATE INDEX IF NOT EXISTS records_keyframes ON ${s}.records (run_id, seq) WHERE snapshot IS NOT NULL`,
  // Tables made before patches had their own column get it; their old rows keep the patch in the body.
  `ALTER TABLE ${s}.records ADD COLUMN IF NOT EXISTS patch bytea`,
  `CREATE TABLE IF NOT EXISTS ${s}.state_index (
    run_id text NOT NULL REFERENCES ${s}.runs (run_id) ON DELETE CASCADE, seq integer NOT NULL, root bytea NOT NULL, PRIMARY KEY (run_id, seq))`,
  `CREATE TABLE IF NOT EXISTS ${s}.state_chunks (
    run_id text NOT NULL REFERENCES ${s}.runs (run_id) ON DELETE CASCADE, id text NOT NULL, data bytea NOT NULL, PRIMARY KEY (run_id, id))`,
  `CREATE TABLE IF NOT EXISTS ${s}.machines (machine_id text NOT NULL, hash text NOT NULL, body text NOT NULL, PRIMARY KEY (machine_id, hash))`,
  // The lease a worker holds a run by (see runLeases.ts): one row per run submitted to the workers'
  // queue. `epoch` grows by one at every take; times are the database's own.
  `CREATE TABLE IF NOT EXISTS ${s}.run_leases (
    run_id text PRIMARY KEY REFERENCES ${s}.runs (run_id) ON DELETE CASCADE, queue text NOT NULL, priority integer NOT NULL DEFAULT 0,
    owner text, epoch bigint NOT NULL DEFAULT 0, expires_at timestamptz NOT NULL DEFAULT '-infinity')`,
  `CREATE INDEX IF NOT EXISTS run_leases_held ON ${s}.run_leases (expires_at) WHERE owner IS NOT NULL`,
  // The run's tenant (its `statecraft.tenant` label), for per-tenant limits, and when it was first
  // queued by the database's clock: every later ticket of the run keeps that place in its queue.
  `ALTER TABLE ${s}.run_leases ADD COLUMN IF NOT EXISTS tenant text`,
  `ALTER TABLE ${s}.run_leases ADD COLUMN IF NOT EXISTS queued_at timestamptz`,
  // Live leases counted per queue and per tenant by the workers' concurrency limits.
  `CREATE INDEX IF NOT EXISTS run_leases_held_queue ON ${s}.run_leases (queue) WHERE owner IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS run_leases_held_tenant ON ${s}.run_leases (tenant) WHERE owner IS NOT NULL AND tenant IS NOT NULL`,
  // Decisions on a workers' run, kept until the worker that resumes the run has recorded them (see RunLeases.decide).
  `CREATE TABLE IF NOT EXISTS ${s}.run_decisions (
    id bigserial PRIMARY KEY, run_id text NOT NULL REFERENCES ${s}.runs (run_id) ON DELETE CASCADE,
    decision jsonb NOT NULL, decided_at timestamptz NOT NULL DEFAULT now())`,
  `CREATE INDEX IF NOT EXISTS run_decisions_run ON ${s}.run_decisions (run_id, id)`,
  // The append of earlier versions had no epoch: dropped, so that no caller can append around the fence.
  `DROP FUNCTION IF EXISTS ${s}.append_records(text, integer, bytea[], bytea[], bytea[], text[], bytea[], integer[], bytea[], text, boolean, bytea)`,
  appendFunction(s),
];
