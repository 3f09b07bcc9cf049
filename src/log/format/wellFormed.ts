import { z } from 'zod';
import type { Operation, RunHeader, RunRecord, RunSummary } from './record.ts';

// Hand-written checks of the log's record, header and summary shapes. zod compiles each object schema
// with `new Function` on its first parse, which costs a fresh process (a resume, a CLI command)
// several milliseconds per schema. Each check returns exactly what the zod schema in record.ts would
// return for a value that is plainly well-formed (JSON from the store), and undefined for anything
// else: the caller then asks zod, which decides and words the error. So a check may refuse more
// than zod does, never less; test/wellFormed.test.ts compares both on valid and broken values.

/** Times in the log: ISO 8601 with seconds and a zone (`Z` or an offset). */
export const IsoTime = z.iso.datetime({ offset: true });
const ISO_TIME = IsoTime.def.pattern as RegExp;

type Fields = Record<string, unknown>;

const isPlain = (value: unknown): value is Fields => {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};
const isString = (value: unknown): value is string => typeof value === 'string';
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isAmount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isTime = (value: unknown): value is string => typeof value === 'string' && ISO_TIME.test(value);
const isPointer = (value: unknown): value is string => typeof value === 'string' && (value === '' || value.startsWith('/'));

function runRef(value: unknown): { runId: string; seq: number } | undefined {
  return isPlain(value) && isText(value.runId) && isCount(value.seq) ? { runId: value.runId, seq: value.seq } : undefined;
}

function runOwner(value: unknown): { host: string; pid: number; id: string } | undefined {
  return isPlain(value) && isText(value.host) && isCount(value.pid) && value.pid > 0 && isText(value.id) ? { host: value.host, pid: value.pid, id: value.id } : undefined;
}

/** A z.record of string keys: a fresh object with the same keys, each value accepted by `check`. */
function record(value: unknown, check: (item: unknown) => boolean): Fields | undefined {
  if (!isPlain(value) || Object.getOwnPropertySymbols(value).length > 0) return undefined;
  const out: Fields = {};
  for (const key of Object.keys(value)) {
    if (key === '__proto__' || !check(value[key])) return undefined;
    out[key] = value[key];
  }
  return out;
}

/** Copies the keys of a z.looseObject that its shape does not name, after the shape's own (zod's order). */
function copyRest(value: Fields, shape: readonly string[], out: Fields): boolean {
  for (const key in value) {
    if (shape.includes(key)) continue;
    if (key === '__proto__' || value[key] === undefined) return false;
    out[key] = value[key];
  }
  return true;
}

function operation(value: unknown): Operation | undefined {
  if (!isPlain(value)) return undefined;
  switch (value.op) {
    case 'add':
    case 'replace':
    case 'test':
      return isPointer(value.path) && value.value !== undefined ? ({ op: value.op, path: value.path, value: value.value } as Operation) : undefined;
    case 'remove':
      return isPointer(value.path) ? { op: 'remove', path: value.path } : undefined;
    case 'move':
    case 'copy':
      return isPointer(value.from) && isPointer(value.path) ? { op: value.op, from: value.from, path: value.path } : undefined;
    default:
      return undefined;
  }
}

const EVENT_SHAPE = ['type'] as const;
const META_SHAPE = ['durationMs', 'usage', 'model'] as const;

function meta(value: unknown): RunRecord['meta'] | undefined {
  if (!isPlain(value)) return undefined;
  const out: Fields = {};
  if ('durationMs' in value) {
    if (!isAmount(value.durationMs)) return undefined;
    out.durationMs = value.durationMs;
  }
  if ('usage' in value) {
    const usage = value.usage;
    if (!isPlain(usage) || !isCount(usage.inputTokens) || !isCount(usage.outputTokens)) return undefined;
    out.usage = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
  }
  if ('model' in value) {
    if (!isString(value.model)) return undefined;
    out.model = value.model;
  }
  return copyRest(value, META_SHAPE, out) ? out : undefined;
}

/** `RunRecordSchema.parse(json)` for a plainly well-formed record, else undefined. */
export function wellFormedRecord(json: unknown): RunRecord | undefined {
  if (!isPlain(json) || json.v !== 1) return undefined;
  const { runId, seq, time, event, state, patch, checksum } = json;
  if (!isText(runId) || !isCount(seq) || !isTime(time) || state === undefined || !Array.isArray(patch) || !isText(checksum)) return undefined;
  if (!isPlain(event) || !isString(event.type)) return undefined;
  const parsedEvent: Fields = { type: event.type };
  if (!copyRest(event, EVENT_SHAPE, parsedEvent)) return undefined;
  const ops: Operation[] = new Array(patch.length);
  for (let i = 0; i < patch.length; i++) {
    const op = operation(patch[i]);
    if (op === undefined) return undefined;
    ops[i] = op;
  }
  const out: Fields = { v: json.v, runId, seq, time, event: parsedEvent, state, patch: ops };
  if ('snapshot' in json) out.snapshot = json.snapshot;
  if ('meta' in json) {
    const parsedMeta = meta(json.meta);
    if (parsedMeta === undefined) return undefined;
    out.meta = parsedMeta;
  }
  out.checksum = checksum;
  return out as RunRecord;
}

/** `RunHeaderSchema.parse(json)` for a plainly well-formed header, else undefined. */
export function wellFormedHeader(json: unknown): RunHeader | undefined {
  if (!isPlain(json) || (json.format !== 1 && json.format !== 3)) return undefined;
  const { runId, agent, machine, model, createdAt } = json;
  if (!isText(runId) || !isPlain(agent) || !isString(agent.id) || !isString(agent.version)) return undefined;
  if (!isPlain(machine) || !isString(machine.id) || !isString(machine.hash)) return undefined;
  if (!isPlain(model) || !isString(model.provider) || !isString(model.model) || !isTime(createdAt)) return undefined;
  const params = record(model.params, () => true);
  if (params === undefined) return undefined;
  const out: Fields = {
    format: json.format,
    runId,
    agent: { id: agent.id, version: agent.version },
    machine: { id: machine.id, hash: machine.hash },
    model: { provider: model.provider, model: model.model, params },
  };
  if ('parent' in json) {
    const parent = runRef(json.parent);
    if (parent === undefined) return undefined;
    out.parent = parent;
  }
  out.createdAt = createdAt;
  if ('input' in json) out.input = json.input;
  if ('labels' in json) {
    const labels = record(json.labels, isString);
    if (labels === undefined) return undefined;
    out.labels = labels;
  }
  if ('traceparent' in json) {
    if (!isString(json.traceparent)) return undefined;
    out.traceparent = json.traceparent;
  }
  if ('invoked' in json) {
    const invoked = record(json.invoked, (ref) => isPlain(ref) && isString(ref.id) && isString(ref.hash) && Object.keys(ref).length === 2);
    if (invoked === undefined) return undefined;
    out.invoked = Object.fromEntries(Object.entries(invoked).map(([path, ref]) => [path, { id: (ref as Fields).id, hash: (ref as Fields).hash }]));
  }
  if ('checksum' in json) {
    if (!isText(json.checksum)) return undefined;
    out.checksum = json.checksum;
  }
  return out as RunHeader;
}

const STATUSES: readonly unknown[] = ['created', 'queued', 'running', 'waiting', 'done', 'failed', 'halted', 'cancelled'];

/** The summary's fields in schema order: whether each is optional, and its check (which may copy). */
const SUMMARY_FIELDS: readonly [key: keyof RunSummary, optional: boolean, parse: (value: unknown) => unknown][] = [
  ['runId', false, (value) => (isText(value) ? value : undefined)],
  ['agentId', false, (value) => (isString(value) ? value : undefined)],
  ['status', false, (value) => (STATUSES.includes(value) ? value : undefined)],
  ['steps', false, (value) => (isCount(value) ? value : undefined)],
  ['inputTokens', false, (value) => (isCount(value) ? value : undefined)],
  ['outputTokens', false, (value) => (isCount(value) ? value : undefined)],
  ['costUsd', false, (value) => (isAmount(value) ? value : undefined)],
  ['lastSeq', false, (value) => (Number.isSafeInteger(value) && (value as number) >= -1 ? value : undefined)],
  ['createdAt', false, (value) => (isTime(value) ? value : undefined)],
  ['updatedAt', false, (value) => (isTime(value) ? value : undefined)],
  ['parent', true, runRef],
  ['waitingOn', true, (value) => value],
  ['reason', true, (value) => (isString(value) ? value : undefined)],
  ['truncations', true, (value) => (isCount(value) ? value : undefined)],
  ['owner', true, runOwner],
  ['agentModule', true, (value) => (isText(value) ? value : undefined)],
];

/**
 * `RunSummarySchema.parse(json)` for a plainly well-formed summary, else undefined; with `partial`,
 * `RunSummarySchema.partial().parse(json)` (a field given as undefined is kept as undefined).
 */
export function wellFormedSummary(json: unknown): RunSummary | undefined;
export function wellFormedSummary(json: unknown, partial: true): Partial<RunSummary> | undefined;
export function wellFormedSummary(json: unknown, partial = false): Partial<RunSummary> | undefined {
  if (!isPlain(json)) return undefined;
  const out: Fields = {};
  for (const [key, optional, parse] of SUMMARY_FIELDS) {
    if (!(key in json)) {
      if (optional || partial) continue;
      return undefined;
    }
    const value = json[key];
    if (value === undefined) {
      if (!partial) return undefined;
      out[key] = undefined;
      continue;
    }
    const parsed = parse(value);
    if (parsed === undefined) return undefined;
    out[key] = parsed;
  }
  return out as Partial<RunSummary>;
}
