import { z } from 'zod';

/** A tool call as the model produced it: `arguments` is the raw text, parsed and validated later. */
export const ToolCallSchema = z.object({
  id: z.string(),
  name: z.string(),
  arguments: z.string(),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

export const SystemMessageSchema = z.object({ role: z.literal('system'), content: z.string() });
export const UserMessageSchema = z.object({ role: z.literal('user'), content: z.string() });
export const AssistantMessageSchema = z.object({
  role: z.literal('assistant'),
  content: z.string().nullable(),
  toolCalls: z.array(ToolCallSchema).optional(),
});
export const ToolMessageSchema = z.object({
  role: z.literal('tool'),
  toolCallId: z.string(),
  name: z.string(),
  content: z.string(),
});

export const MessageSchema = z.discriminatedUnion('role', [
  SystemMessageSchema,
  UserMessageSchema,
  AssistantMessageSchema,
  ToolMessageSchema,
]);
export type SystemMessage = z.infer<typeof SystemMessageSchema>;
export type UserMessage = z.infer<typeof UserMessageSchema>;
export type AssistantMessage = z.infer<typeof AssistantMessageSchema>;
export type ToolMessage = z.infer<typeof ToolMessageSchema>;
export type Message = z.infer<typeof MessageSchema>;

/**
 * Tokens of one or more model calls. `cachedInputTokens` are part of `inputTokens` (read from the
 * provider's prompt cache, billed at a lower rate) and `reasoningTokens` part of `outputTokens`; each
 * is absent when the provider reported none, as in runs recorded before they were counted.
 */
export const UsageSchema = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  cachedInputTokens: z.number().int().nonnegative().optional(),
  reasoningTokens: z.number().int().nonnegative().optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const zeroUsage = (): Usage => ({ inputTokens: 0, outputTokens: 0 });

/** The arguments a tool call was made with, as the model sent them (JSON text), from the latest turn that holds it. */
export function requestedArguments(messages: readonly Message[] | undefined, callId: string): string | undefined {
  for (let i = (messages?.length ?? 0) - 1; i >= 0; i--) {
    const message = messages![i]!;
    const call = message.role === 'assistant' ? message.toolCalls?.find((toolCall) => toolCall.id === callId) : undefined;
    if (call) return call.arguments;
  }
  return undefined;
}
