import { z } from '@hono/zod-openapi';
import { RUN_STATUSES } from '../../log/format/record.ts';
import { SCOPES } from '../store/ServiceStore.ts';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem', { description: 'An RFC 9457 problem document; `detail` says what was expected, what was found and what to do.' });

const Json = z.unknown().openapi({ description: 'Any JSON value' });

const Message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }).openapi('HistoryMessage');

export const CreateRunBody = z
  .strictObject({
    agent: z.string().min(1).openapi({ description: 'The id (name) of an agent this service serves', example: 'support' }),
    input: z.string().openapi({ description: "The user's message that starts the run", example: 'Where is my order 1042?' }),
    thread: z.string().min(1).max(200).optional().openapi({ description: 'A conversation this run belongs to; kept with the run (header label `thread`)' }),
    history: z.array(Message).max(1000).optional().openapi({ description: 'Messages placed before the input (a previous conversation)' }),
  })
  .openapi('CreateRun');

const RunRef = z.object({ runId: z.string(), seq: z.number().int() });

export const RunSummarySchema = z
  .object({
    runId: z.string(),
    agentId: z.string(),
    status: z.enum(RUN_STATUSES),
    steps: z.number().int(),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
    costUsd: z.number(),
    lastSeq: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    parent: RunRef.optional(),
    waitingOn: Json.optional(),
    reason: z.string().optional(),
  })
  .passthrough()
  .openapi('RunSummary');

export const RunSchema = z
  .object({
    runId: z.string(),
    agent: z.object({ id: z.string(), version: z.string() }),
    thread: z.string().optional(),
    parent: RunRef.optional(),
    createdAt: z.string(),
    input: Json.optional(),
    summary: RunSummarySchema,
  })
  .openapi('Run');

export const RunListSchema = z.object({ runs: z.array(RunSummarySchema), next: z.string().optional().openapi({ description: 'Pass as `cursor` for the next page' }) }).openapi('RunList');

export const ListQuery = z.object({
  status: z.string().optional().openapi({ description: `Comma-separated statuses: ${RUN_STATUSES.join(', ')}` }),
  agent: z.string().optional(),
  parent: z.string().optional().openapi({ description: 'Only forks of this run' }),
  thread: z.string().optional().openapi({ description: 'Only runs of this thread' }),
  limit: z.string().regex(/^\d+$/, { message: 'expected a whole number from 1 to 200' }).optional(),
  cursor: z.string().optional(),
});

export const RunIdParam = z.object({ runId: z.string().min(1).max(200).openapi({ param: { name: 'runId', in: 'path' } }) });

export const HistoryEntrySchema = z
  .object({ seq: z.number().int(), time: z.string(), eventType: z.string(), event: Json, state: Json, meta: Json.optional() })
  .openapi('HistoryEntry');

export const RangeQuery = z.object({
  from: z.string().regex(/^\d+$/, { message: 'expected a record number (0, 1, 2, ...)' }).optional(),
  to: z.string().regex(/^\d+$/, { message: 'expected a record number (0, 1, 2, ...)' }).optional(),
});

export const SeqParam = RunIdParam.extend({ seq: z.string().regex(/^\d+$/, { message: 'expected a record number (0, 1, 2, ...)' }).openapi({ param: { name: 'seq', in: 'path' } }) });

export const StateSchema = z.object({ runId: z.string(), seq: z.number().int(), state: Json }).openapi('StateAt');

const Operation = z
  .object({ op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']), path: z.string(), from: z.string().optional(), value: Json.optional() })
  .openapi('JsonPatchOperation');

export const ForkBody = z
  .strictObject({ seq: z.number().int().nonnegative(), edit: z.array(Operation).max(100).optional().openapi({ description: 'RFC 6902 operations on the context at that record' }) })
  .openapi('Fork');

export const CreatedRunSchema = z.object({ runId: z.string(), status: z.enum(RUN_STATUSES), links: z.record(z.string(), z.string()) }).openapi('CreatedRun');

export const CancelBody = z.strictObject({ reason: z.string().max(2000).optional() }).openapi('Cancel');

export const PendingCallSchema = z.object({ callId: z.string(), tool: z.string(), argsHash: z.string().optional(), actor: z.string().optional() }).passthrough().openapi('PendingCall');

export const CallParam = RunIdParam.extend({ callId: z.string().min(1).max(200).openapi({ param: { name: 'callId', in: 'path' } }) });

const Decider = {
  argsHash: z.string().min(1).openapi({ description: 'The arguments hash of the call as the person saw it (GET …/approvals); a mismatch decides nothing' }),
  by: z.string().min(1).max(200).openapi({ description: 'The person deciding; recorded with the key that sent the decision' }),
  actor: z.string().optional().openapi({ description: 'The invoked agent holding the call, as listed' }),
};
export const ApproveBody = z.strictObject(Decider).openapi('Approve');
export const RejectBody = z.strictObject({ ...Decider, reason: z.string().min(1).max(4000).openapi({ description: 'What the model is told instead of the result' }) }).openapi('Reject');
export const DecisionSchema = z.object({ runId: z.string(), callId: z.string(), decision: z.enum(['approved', 'rejected']), by: z.string() }).openapi('Decision');

export const CreateKeyBody = z
  .strictObject({
    name: z.string().max(200).optional(),
    scopes: z.array(z.enum(SCOPES)).min(1),
    expiresAt: z.string().datetime({ offset: true }).optional(),
  })
  .openapi('CreateKey');
export const KeySchema = z
  .object({ keyId: z.string(), tenantId: z.string(), name: z.string(), scopes: z.array(z.enum(SCOPES)), createdAt: z.string(), expiresAt: z.string().optional(), revokedAt: z.string().optional() })
  .openapi('ApiKey');
export const CreatedKeySchema = KeySchema.extend({ key: z.string().openapi({ description: 'The key itself, shown this once and never again' }) }).openapi('CreatedKey');
export const KeyIdParam = z.object({ keyId: z.string().min(1).max(64).openapi({ param: { name: 'keyId', in: 'path' } }) });

/** The error answers every route may give, referenced from the document. */
export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: PROBLEM_TEXT[status] ?? 'Problem', content: { 'application/problem+json': { schema: ProblemSchema } } }]));

const PROBLEM_TEXT: Record<number, string> = {
  400: 'The request is malformed (JSON, parameters or body)',
  401: 'No valid API key',
  403: 'The key lacks the scope, or the origin is not allowed',
  404: 'No such run in your tenant',
  409: 'The run is in a state that does not allow this',
  413: 'The body is too large',
  422: 'The request is well formed but cannot be carried out',
  429: 'Too many requests (the key or tenant is over its rate or its concurrent runs), or too many failed authentications from this client; Retry-After says when to retry',
};
export const COMMON_PROBLEMS = [400, 401, 403, 429];
