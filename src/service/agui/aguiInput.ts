import { z } from '@hono/zod-openapi';
import type { Message } from '../../protocol/messages.ts';
import { ProblemError } from '../http/problem.ts';

// The AG-UI 1.0 RunAgentInput as this service reads it. Objects are loose, as the protocol's own
// schemas are: a field a newer client adds passes through unread.

const ToolCall = z.looseObject({ id: z.string().min(1), type: z.literal('function'), function: z.looseObject({ name: z.string(), arguments: z.string() }) });
const Part = z.looseObject({ type: z.string(), text: z.string().optional() });
const Content = z.union([z.string(), z.array(Part)]);
const base = { id: z.string() };

const AguiMessage = z
  .discriminatedUnion('role', [
    z.looseObject({ ...base, role: z.literal('developer'), content: z.string() }),
    z.looseObject({ ...base, role: z.literal('system'), content: z.string() }),
    z.looseObject({ ...base, role: z.literal('user'), content: Content }),
    z.looseObject({ ...base, role: z.literal('assistant'), content: z.string().optional(), toolCalls: z.array(ToolCall).optional() }),
    z.looseObject({ ...base, role: z.literal('tool'), toolCallId: z.string(), content: Content }),
    z.looseObject({ ...base, role: z.literal('activity') }),
    z.looseObject({ ...base, role: z.literal('reasoning') }),
  ])
  .openapi('AguiMessage');

/** What a person answers to a call waiting for approval, in a resume entry's `payload`. */
export const ApprovalAnswer = z
  .strictObject({
    approved: z.boolean(),
    argsHash: z.string().min(1).openapi({ description: "The interrupt's `metadata.argsHash`: the arguments the person saw; a mismatch decides nothing" }),
    by: z.string().min(1).max(200).optional().openapi({ description: 'The person deciding; recorded with the key that sent the decision' }),
    reason: z.string().min(1).max(4000).optional().openapi({ description: 'For a rejection: what the model is told instead of the result' }),
  })
  .openapi('AguiApprovalAnswer');

const ResumeEntry = z
  .looseObject({
    interruptId: z.string().min(1),
    status: z.enum(['resolved', 'cancelled']).openapi({ description: '`cancelled` rejects the call' }),
    payload: ApprovalAnswer.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((entry) => entry.status === 'cancelled' || entry.payload !== undefined, {
    message: 'a resolved interrupt needs a payload {"approved": true|false, "argsHash": "<the interrupt\'s metadata.argsHash>"}',
    path: ['payload'],
  });

export const RunAgentInputBody = z
  .looseObject({
    threadId: z.string().min(1).max(200).openapi({ description: "The conversation: runs started with it carry it as their thread (filter GET /v1/runs with `thread`)" }),
    runId: z.string().min(1).max(200).openapi({ description: "The client's id for this request; echoed in RUN_STARTED and RUN_FINISHED" }),
    protocolVersion: z.string().optional(),
    parentRunId: z.string().optional(),
    state: z.unknown().optional().openapi({ description: 'Not read: the run keeps its own state' }),
    messages: z.array(AguiMessage).max(1000).openapi({ description: "The conversation so far; its last message is the user's input" }),
    tools: z.array(z.looseObject({ name: z.string() })).optional().openapi({ description: 'Not read: the agent runs the tools it was defined with' }),
    context: z.array(z.unknown()).optional(),
    forwardedProps: z.unknown().optional(),
    resume: z.array(ResumeEntry).max(100).optional().openapi({ description: 'Answers to the interrupts of the RUN_FINISHED that paused the run' }),
  })
  .openapi('RunAgentInput');

export type RunAgentInputBody = z.infer<typeof RunAgentInputBody>;
export type ResumeEntry = z.infer<typeof ResumeEntry>;
type AguiMessage = z.infer<typeof AguiMessage>;

function textOf(content: z.infer<typeof Content>, where: string): string {
  if (typeof content === 'string') return content;
  const other = content.find((part) => part.type !== 'text');
  if (other) {
    throw new ProblemError(422, 'unsupported-content', 'Unsupported content',
      `${where} holds a "${other.type}" part, and agents served here read text only: send text parts (type "text").`);
  }
  return content.map((part) => part.text ?? '').join('');
}

/**
 * The run's input and history from an AG-UI conversation: its last message is the user's input; the
 * messages before it are the history (developer messages as system ones). Tool calls without a
 * result, and results without a call, are left out: a model refuses an unanswered call.
 */
export function conversationOf(messages: readonly AguiMessage[]): { input: string; history: Message[] } {
  const last = messages.at(-1);
  if (last?.role !== 'user') {
    throw new ProblemError(422, 'no-user-message', 'No user message',
      `Expected the last of the messages to be the user's (role "user"), found ${last ? `role "${last.role}" (message ${last.id})` : 'no messages'}: end the messages with what the user asks.`);
  }
  const answered = new Set(messages.flatMap((message) => (message.role === 'tool' ? [message.toolCallId] : [])));
  const names = new Map<string, string>();
  const history: Message[] = [];
  for (const message of messages.slice(0, -1)) {
    if (message.role === 'developer' || message.role === 'system') history.push({ role: 'system', content: message.content });
    else if (message.role === 'user') history.push({ role: 'user', content: textOf(message.content, `Message ${message.id}`) });
    else if (message.role === 'assistant') {
      const calls = (message.toolCalls ?? []).filter((call) => answered.has(call.id)).map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
      for (const call of calls) names.set(call.id, call.name);
      if (calls.length || message.content) history.push({ role: 'assistant', content: message.content ?? null, ...(calls.length ? { toolCalls: calls } : {}) });
    } else if (message.role === 'tool') {
      const name = names.get(message.toolCallId);
      if (name !== undefined) history.push({ role: 'tool', toolCallId: message.toolCallId, name, content: textOf(message.content, `Message ${message.id}`) });
    }
  }
  return { input: textOf(last.content, `The user's message ${last.id}`), history };
}
