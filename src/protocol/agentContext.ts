import { z } from 'zod';
import { MessageSchema, UsageSchema } from './messages.ts';

const Count = z.number().int().nonnegative();
const Amount = z.number().nonnegative();

const CallStateSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  status: z.enum(['ready', 'invalid', 'denied', 'awaiting', 'approved', 'rejected', 'running', 'done']),
});

/**
 * The fields of an agent's context the runtime relies on (see `AgentContext`), checked where a
 * context comes from outside the machine, such as a fork's edit; other fields are let through.
 */
export const AgentContextSchema = z.looseObject({
  runId: z.string().min(1),
  messages: z.array(MessageSchema),
  step: Count,
  usage: UsageSchema,
  costUsd: Amount,
  limits: z.looseObject({ maxSteps: Count, maxTokens: Count.optional(), maxCostUsd: Amount.optional(), deadlineAt: z.number().optional() }),
  approval: z.looseObject({ timeoutMs: Count.optional(), onTimeout: z.enum(['reject', 'approve']) }),
  alwaysApprove: z.array(z.string()),
  turn: z.looseObject({ step: Count, calls: z.array(CallStateSchema) }).nullable(),
  output: z.string().nullable(),
  stop: z.looseObject({ reason: z.string(), detail: z.string() }).nullable(),
  error: z.looseObject({ name: z.string(), message: z.string() }).nullable(),
});
