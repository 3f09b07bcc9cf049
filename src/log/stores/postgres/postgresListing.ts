import type { ListRunsFilter } from '../listing.ts';

/** The query that lists a PostgreSQL store's runs under schema `s` (quoted) through a filter, with its parameters. */
export function listRunsQuery(s: string, filter: ListRunsFilter): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (param: string) => string, value: unknown): void => {
    if (value === undefined) return;
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  add((p) => `status = ANY(${p}::text[])`, filter.status);
  add((p) => `agent_id = ${p}`, filter.agentId);
  add((p) => `parent_run_id = ${p}`, filter.parentRunId);
  add((p) => `updated_at > ${p}::timestamptz`, filter.updatedAfter);
  if (filter.thread === true) where.push('thread IS NOT NULL');
  else add((p) => `thread = ${p}`, filter.thread);
  add((p) => `tenant IS NOT DISTINCT FROM ${p}::text`, filter.tenant);
  const limit = filter.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`;
  const sql =
    `SELECT run_id, agent_id, status, created_at, updated_at, summary, thread, tenant FROM ${s}.runs` +
    `${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC, run_id${limit}`;
  return { sql, params };
}
