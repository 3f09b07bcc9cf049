export { agentConfig, agentMachine, agentSetup, type AgentEvent, type AgentMachineConfig } from '../machines/agentMachine.ts';
export {
  CancelledError,
  ConflictError,
  ModelBehaviorError,
  ModelCallError,
  StatecraftError,
  StorageError,
  ToolError,
  UserError,
} from './errors.ts';
export { createOpenAIModel, type OpenAIModelOptions } from './model/openaiModel.ts';
export { costOf, defaultPrices, priceFor, type Price, type PriceTable } from './model/pricing.ts';
export type {
  AgentContext,
  AgentInput,
  AgentOutput,
  CallState,
  CallStatus,
  Limits,
  ModelTurn,
  RunStatus,
  StopReason,
  ToolOutcome,
} from './protocol/agent.ts';
export type { AssistantMessage, Message, ToolCall, ToolMessage, Usage } from './protocol/messages.ts';
export type { ModelInfo, ModelPort, ModelRequest, ModelResponse, ToolSpec } from './protocol/model.ts';
export { defineAgent, type Agent, type AgentConfig, type AgentLimits } from './runtime/defineAgent.ts';
export { provideAgent } from './runtime/provideAgent.ts';
export { Run, runAgent, startRun, type RunOptions } from './runtime/Run.ts';
export type { RunEvent, RunResult } from './runtime/runEvents.ts';
export { defineTool, type Tool, type ToolContext, type ToolDefinition } from './tools/defineTool.ts';
export { createToolbox, type Toolbox } from './tools/toolbox.ts';
