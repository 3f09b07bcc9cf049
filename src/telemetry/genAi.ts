// Names from OpenTelemetry's semantic conventions for generative AI (development status), and
// Statecraft's own for what those conventions do not name; how a model port's facts map to them.
import type { Attributes } from '@opentelemetry/api';
import type { Message } from '../protocol/messages.ts';
import type { ModelInfo } from '../protocol/model.ts';

export const OPERATION = 'gen_ai.operation.name';
export const PROVIDER = 'gen_ai.provider.name';
export const AGENT_NAME = 'gen_ai.agent.name';
export const AGENT_ID = 'gen_ai.agent.id';
export const AGENT_VERSION = 'gen_ai.agent.version';
export const CONVERSATION_ID = 'gen_ai.conversation.id';
export const REQUEST_MODEL = 'gen_ai.request.model';
export const RESPONSE_MODEL = 'gen_ai.response.model';
export const FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const CACHE_READ_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const TOOL_NAME = 'gen_ai.tool.name';
export const TOOL_CALL_ID = 'gen_ai.tool.call.id';
export const TOOL_TYPE = 'gen_ai.tool.type';
export const TOOL_ARGUMENTS = 'gen_ai.tool.call.arguments';
export const OUTPUT_MESSAGES = 'gen_ai.output.messages';
export const INPUT_MESSAGES = 'gen_ai.input.messages';
export const TOOL_RESULT = 'gen_ai.tool.call.result';
export const TOKEN_TYPE = 'gen_ai.token.type';
export const ERROR_TYPE = 'error.type';

/** The event a transition of the run's statechart is reported as, on the run's span. */
export const STATE_CHANGED = 'gen_ai.execution.state.changed';

export const RUN_ID = 'statecraft.run.id';
export const RUN_STATUS = 'statecraft.run.status';
export const RUN_REASON = 'statecraft.run.reason';
export const RUN_RESUMED = 'statecraft.run.resumed';
export const RUN_STEPS = 'statecraft.run.steps';
export const FORK_PARENT_RUN_ID = 'statecraft.fork.parent.run_id';
export const FORK_PARENT_SEQ = 'statecraft.fork.parent.seq';
export const COST_USD = 'statecraft.cost.usd';
export const ACTOR = 'statecraft.actor';
export const STATE = 'statecraft.state';
export const STEP = 'statecraft.step';
export const RECORD_SEQ = 'statecraft.record.seq';
export const PATCH_OPERATIONS = 'statecraft.patch.operations';
export const PATCH_BYTES = 'statecraft.patch.bytes';
export const PATCH = 'statecraft.patch';
export const APPROVAL_DECISION = 'statecraft.approval.decision';
export const APPROVAL_BY = 'statecraft.approval.by';
/** How long a model call waited for its endpoint's shared rate limits before it was sent. */
export const RATE_LIMIT_WAIT_MS = 'statecraft.model.rate_limit.wait_ms';

export const INSTRUMENTATION = 'statecraft';

/**
 * The provider as the GenAI conventions name it: an OpenAI-compatible server speaks OpenAI's API, the
 * flavour the attribute tells apart (`server.address` says which server it was).
 */
export const providerName = (provider: string) => (provider === 'openai-compatible' ? 'openai' : provider);

/** `server.address` and `server.port` of the endpoint a model port names in its parameters, when it names one. */
export function serverOf(model: ModelInfo): Attributes {
  const endpoint = model.params['endpoint'];
  if (typeof endpoint !== 'string' || !URL.canParse(endpoint)) return {};
  const url = new URL(endpoint);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { 'server.address': url.hostname, 'server.port': port };
}


/** A message as the GenAI conventions' `gen_ai.input.messages` and `gen_ai.output.messages` hold it: a role and its parts. */
export function partsOf(message: Message): { role: string; parts: object[] } {
  switch (message.role) {
    case 'tool':
      return { role: 'tool', parts: [{ type: 'tool_call_response', id: message.toolCallId, response: message.content }] };
    case 'assistant':
      return {
        role: 'assistant',
        parts: [
          ...(message.content ? [{ type: 'text', content: message.content }] : []),
          ...(message.toolCalls ?? []).map((call) => ({ type: 'tool_call', id: call.id, name: call.name, arguments: parsedOrText(call.arguments) })),
        ],
      };
    default:
      return { role: message.role, parts: [{ type: 'text', content: message.content }] };
  }
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
