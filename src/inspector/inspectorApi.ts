import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyStateMachine } from 'xstate';
import { z } from 'zod';
import { OperationSchema, RUN_STATUSES } from '../log/format/record.ts';
import type { Operation } from '../log/format/record.ts';
import type { ListRunsFilter, RunStore } from '../log/stores/runStore.ts';
import type { Agent } from '../runtime/defineAgent.ts';
import { RunDiagrams } from './runDiagrams.ts';
import { streamRun, type LiveEvents } from './runStream.ts';
import { HttpStatusError, readJsonBody, sendBody, sendJson } from './sendJson.ts';
import { isFiltering, matchesRow, RecordRows, ROW_KINDS, type RowFilter, type RowKind } from './recordRows.ts';
import { StateCache, type MessageWindow } from './stateCache.ts';
import { timingAt } from './timingAt.ts';

/** What the inspector's approve, reject and fork buttons do. */
export interface InspectorActions {
  /**
   * `argsHash` is the hash of the arguments shown on the page: the decision applies only to them.
   * `actor` is the invoked agent holding the call, as the page lists it ('' for the run's own agent).
   */
  approve(runId: string, callId: string, by: string, argsHash?: string, actor?: string): Promise<void>;
  reject(runId: string, callId: string, reason: string, by: string, argsHash?: string, actor?: string): Promise<void>;
  /** Returns the new run's id. */
  fork(runId: string, seq: number, edit?: Operation[]): Promise<string>;
  /** Cancels the run wherever it runs (see `cancelRun`); resolves with its status afterwards. */
  cancel?(runId: string, reason: string): Promise<string>;
  /** Starts a fork never started (or continues a run no process holds) in this process, with `model` if given. */
  resume?(runId: string, model?: string): Promise<void>;
}

export interface ApiOptions {
  store: RunStore;
  machines: Record<string, AnyStateMachine>;
  actions?: InspectorActions;
  live?: LiveEvents;
  /** Loads a run's agent from a module the user trusts, to draw runs recorded without their machine graphs. */
  agentFor?: (runId: string) => Promise<Agent>;
  /** Where open streams' stop functions are kept (a server's, to end them on shutdown); the API's own set by default. */
  streams?: Set<() => void>;
}

const ApproveBody = z.object({ callId: z.string().min(1), by: z.string().min(1).optional(), argsHash: z.string().optional(), actor: z.string().optional() });
const RejectBody = z.object({ callId: z.string().min(1), reason: z.string(), by: z.string().min(1).optional(), argsHash: z.string().optional(), actor: z.string().optional() });
const ForkBody = z.object({ seq: z.number().int().nonnegative(), edit: z.array(OperationSchema).optional() });
const CancelBody = z.object({ reason: z.string().max(2000).optional() });
const ResumeBody = z.object({ model: z.string().min(1).max(200).optional() });

function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new HttpStatusError(400, `${what} expected a JSON body ${describe(schema)}; at ${issue?.path.join('.') || '(root)'}: ${issue?.message}.`);
}

const BODIES = new Map<unknown, string>([
  [ApproveBody, '{ callId, by?, argsHash?, actor? }'],
  [RejectBody, '{ callId, reason, by?, argsHash?, actor? }'],
  [ForkBody, '{ seq, edit? }'],
  [CancelBody, '{ reason? }'],
  [ResumeBody, '{ model? }'],
]);
const describe = (schema: unknown) => BODIES.get(schema) ?? '';

function listFilter(query: URLSearchParams): ListRunsFilter {
  const filter: ListRunsFilter = {};
  const status = query.get('status');
  if (status) {
    const wanted = status.split(',').filter(Boolean);
    const unknown = wanted.filter((item) => !(RUN_STATUSES as readonly string[]).includes(item));
    if (unknown.length > 0) throw new HttpStatusError(400, `Unknown run status "${unknown.join(', ')}": use one of ${RUN_STATUSES.join(', ')}.`);
    filter.status = wanted as ListRunsFilter['status'];
  }
  const agent = query.get('agent');
  if (agent) filter.agentId = agent;
  const parent = query.get('parent');
  if (parent) filter.parentRunId = parent;
  const limit = query.get('limit');
  if (limit) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1) throw new HttpStatusError(400, `Expected limit to be a positive integer, found "${limit}".`);
    filter.limit = n;
  }
  return filter;
}

function parseSeq(text: string, runId: string): number {
  const seq = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(seq)) {
    throw new HttpStatusError(400, `Expected a record number (0, 1, 2, ...) for run "${runId}", found "${text}".`);
  }
  return seq;
}

/** Rows a `records` request answers at most, and messages a window holds at most. */
const MAX_ROWS = 1000;
const MAX_MESSAGES = 500;

function rowFilter(query: URLSearchParams): RowFilter {
  const filter: RowFilter = {};
  const kind = query.get('kind');
  if (kind) {
    const wanted = kind.split(',').filter(Boolean);
    const unknown = wanted.filter((item) => !(ROW_KINDS as readonly string[]).includes(item));
    if (unknown.length > 0) throw new HttpStatusError(400, `Unknown record kind "${unknown.join(', ')}": use one of ${ROW_KINDS.join(', ')}.`);
    filter.kind = wanted as RowKind[];
  }
  for (const key of ['tool', 'state', 'text'] as const) {
    const value = query.get(key);
    if (value) filter[key] = value;
  }
  return filter;
}

/** An inclusive range from the query's `from` and `to` (each optional), at most `most` long. */
function seqRange(query: URLSearchParams, last: number, most: number, what: string): { from: number; to: number } {
  const read = (key: string, fallback: number) => {
    const text = query.get(key);
    if (text === null || text === '') return fallback;
    if (!/^\d+$/.test(text)) throw new HttpStatusError(400, `Expected ${key} to be ${what} (0, 1, 2, ...), found "${text}".`);
    return Number(text);
  };
  const from = read('from', 0);
  const to = Math.min(read('to', from + most - 1), from + most - 1, last);
  return { from, to };
}

/** `messages=<from>-<to>` or `messages=-<n>` (the last n) of a step view: which messages to send. */
function messageWindow(text: string | null): MessageWindow | undefined {
  if (text === null) return undefined;
  const last = /^-(\d+)$/.exec(text);
  if (last) return { last: Math.min(Number(last[1]), MAX_MESSAGES) };
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match) throw new HttpStatusError(400, `Expected messages to be a range of message indices such as 0-49, or -50 for the last 50, found "${text}".`);
  const from = Number(match[1]);
  return { from, to: Math.min(Number(match[2]), from + MAX_MESSAGES - 1) };
}

/** Builds the JSON API handlers; `get` and `post` return false when the path is not one of their routes. */
export function createApi(options: ApiOptions) {
  const { store, machines, actions, live, agentFor } = options;
  const cache = new StateCache(store);
  const rows = new RecordRows(store);
  const diagrams = new RunDiagrams({ store, machines, ...(agentFor ? { agentFor } : {}) });
  const streams = options.streams ?? new Set<() => void>();

  // Drawn ahead, so that the page opened later finds its diagram ready.
  for (const id of Object.keys(machines)) diagrams.configured(id).catch(() => undefined);

  const requireActions = (given = actions): InspectorActions => {
    if (given) return given;
    throw new HttpStatusError(501, 'This inspector was started without actions, so it cannot approve, reject or fork; start it from `npx statecraft inspect`, or pass `actions` to startInspector.');
  };

  async function get(res: ServerResponse, parts: string[], query: URLSearchParams, req: IncomingMessage): Promise<boolean> {
    const [a, b, c, d] = parts;
    if (a === 'runs' && b === undefined) {
      sendJson(res, 200, await store.listRuns(listFilter(query)));
    } else if (a === 'runs' && b !== undefined && c === undefined) {
      const [header, summary] = await Promise.all([store.header(b), store.summary(b)]);
      sendJson(res, 200, { header, summary });
    } else if (a === 'runs' && b !== undefined && c === 'history' && d === undefined) {
      sendJson(res, 200, await store.readHistory(b));
    } else if (a === 'runs' && b !== undefined && c === 'records' && d === undefined) {
      sendJson(res, 200, await recordsPage(b, query));
    } else if (a === 'runs' && b !== undefined && c === 'facets' && d === undefined) {
      sendJson(res, 200, await facets(b));
    } else if (a === 'runs' && b !== undefined && c === 'at' && d !== undefined && parts.length === 4) {
      const seq = parseSeq(d, b);
      const window = messageWindow(query.get('messages'));
      const [row] = (await rows.range(b, seq, seq)).rows;
      // `timing=1`: the step's timing too, so that a jump draws it with the record.
      const timing = query.get('timing') === '1' ? { timing: await timingAt(store, b, seq) } : {};
      sendJson(res, 200, undefined, await cache.viewJson(b, seq, window, { ...(row ? { row } : {}), ...timing }));
    } else if (a === 'runs' && b !== undefined && c === 'at' && d !== undefined && parts[4] === 'messages' && parts.length === 5) {
      const seq = parseSeq(d, b);
      const range = seqRange(query, Number.MAX_SAFE_INTEGER, MAX_MESSAGES, 'a message index');
      sendJson(res, 200, undefined, await cache.messagesJson(b, seq, range, query.get('actor') ?? ''));
    } else if (a === 'runs' && b !== undefined && c === 'at' && d !== undefined && parts[4] === 'timing' && parts.length === 5) {
      sendJson(res, 200, await timingAt(store, b, parseSeq(d, b)));
    } else if (a === 'runs' && b !== undefined && c === 'stream' && d === undefined) {
      const summary = await store.summary(b);
      const afterText = query.get('after');
      const after = afterText === null ? summary.lastSeq : Number(afterText);
      if (!Number.isInteger(after) || after < -1) throw new HttpStatusError(400, `Expected after to be a seq (-1 or more), found "${afterText}".`);
      const stop = streamRun(res, { store, runId: b, after, ...(live ? { live } : {}) });
      streams.add(stop);
      req.on('close', () => streams.delete(stop));
    } else if (a === 'runs' && b !== undefined && c === 'diagram.svg' && d === undefined) {
      const diagram = await diagrams.run(b, query.get('agent') ?? '');
      sendBody(res, 200, 'image/svg+xml; charset=utf-8', diagram.svg, { 'x-statecraft-diagram': `${diagram.source} ${diagram.machine.id}` });
    } else if (a === 'runs' && b !== undefined && c === 'invokers' && d === undefined) {
      sendJson(res, 200, await diagrams.invokers(b));
    } else if (a === 'machines' && b !== undefined && b.endsWith('.svg') && c === undefined) {
      sendBody(res, 200, 'image/svg+xml; charset=utf-8', await diagrams.configured(b.slice(0, -4)));
    } else if (a === 'config' && b === undefined) {
      sendJson(res, 200, { actions: actions !== undefined, cancel: actions?.cancel !== undefined, resume: actions?.resume !== undefined, live: live !== undefined || store.liveChannel !== undefined, machines: Object.keys(machines) });
    } else {
      return false;
    }
    return true;
  }

  /**
   * Timeline rows from `from` to `to`; with a filter (kind, tool, state, text), only the rows that
   * match, and `matches`, the seqs of every matching record of the run.
   */
  async function recordsPage(runId: string, query: URLSearchParams) {
    const filter = rowFilter(query);
    if (!isFiltering(filter)) {
      const { from, to } = seqRange(query, Number.MAX_SAFE_INTEGER, MAX_ROWS, 'a record number');
      return rows.range(runId, from, to);
    }
    const run = await rows.all(runId);
    const lastSeq = run.rows.length - 1;
    const { from, to } = seqRange(query, lastSeq, Number.MAX_SAFE_INTEGER, 'a record number');
    const matches: number[] = [];
    run.rows.forEach((row, seq) => {
      if (matchesRow(row, run.texts[seq]!, filter)) matches.push(seq);
    });
    const inRange = matches.filter((seq) => seq >= from && seq <= to).slice(0, MAX_ROWS);
    return { lastSeq, matches, rows: inRange.map((seq) => run.rows[seq]!) };
  }

  /** The tools and states a run's records name, for the page's filters. */
  async function facets(runId: string) {
    const run = await rows.all(runId);
    return { lastSeq: run.rows.length - 1, tools: [...run.tools].sort(), states: [...run.states].sort() };
  }

  /** `acting`: what this request's actions do, when they depend on who sent it (the service's keys); the API's `actions` by default. */
  async function post(req: IncomingMessage, res: ServerResponse, parts: string[], acting?: InspectorActions): Promise<boolean> {
    const [a, runId, verb, extra] = parts;
    if (a !== 'runs' || runId === undefined || extra !== undefined || !['approve', 'reject', 'fork', 'cancel', 'resume'].includes(verb ?? '')) return false;
    const body = await readJsonBody(req);
    const act = requireActions(acting ?? actions);
    if (verb === 'approve') {
      const { callId, by, argsHash, actor } = parseBody(ApproveBody, body, `POST /api/runs/${runId}/approve`);
      await act.approve(runId, callId, by ?? 'inspector', argsHash, actor);
      sendJson(res, 200, { ok: true });
    } else if (verb === 'reject') {
      const { callId, reason, by, argsHash, actor } = parseBody(RejectBody, body, `POST /api/runs/${runId}/reject`);
      await act.reject(runId, callId, reason, by ?? 'inspector', argsHash, actor);
      sendJson(res, 200, { ok: true });
    } else if (verb === 'cancel') {
      const { reason } = parseBody(CancelBody, body, `POST /api/runs/${runId}/cancel`);
      if (!act.cancel) throw new HttpStatusError(501, 'This inspector cannot cancel runs: pass `cancel` in startInspector\'s actions.');
      sendJson(res, 200, { status: await act.cancel(runId, reason || 'Cancelled from the inspector.') });
    } else if (verb === 'resume') {
      const { model } = parseBody(ResumeBody, body, `POST /api/runs/${runId}/resume`);
      if (!act.resume) throw new HttpStatusError(501, 'This inspector cannot start runs: pass `resume` in startInspector\'s actions.');
      await act.resume(runId, model);
      sendJson(res, 202, { ok: true });
    } else {
      const { seq, edit } = parseBody(ForkBody, body, `POST /api/runs/${runId}/fork`);
      sendJson(res, 201, { runId: await act.fork(runId, seq, edit) });
    }
    return true;
  }

  return {
    get,
    post,
    closeStreams: () => {
      for (const stop of streams) stop();
      streams.clear();
    },
  };
}
