// Statecraft's types use Node's (Buffer, node:crypto keys, node:http): a TypeScript project that
// imports it gets them from @types/node, whatever its tsconfig's `types` says.
/// <reference types="node" preserve="true" />
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
export { costOf, type Price, type PriceTable, type PriceTier } from './model/pricing.ts';
export { modelFacts, priceFor, type ModelFacts, type PriceSources } from './model/modelFacts.ts';
export { PRICE_FILE_ENV, readPriceFile, type PriceFileEntry } from './model/priceFile.ts';
export type {
  AgentContext,
  AgentInput,
  AgentOutput,
  CallState,
  CallStatus,
  CompactionOutcome,
  FitnessResult,
  InputWindow,
  Limits,
  MemoryInput,
  ModelTurn,
  RunIdentity,
  RunStatus,
  StopReason,
  ToolOutcome,
} from './protocol/agent.ts';
export type { AssistantMessage, Message, ToolCall, ToolMessage, Usage } from './protocol/messages.ts';
export type { ModelInfo, ModelPacing, ModelPort, ModelRequest, ModelResponse, ToolSpec } from './protocol/model.ts';
export {
  chainCredentials,
  envCredentials,
  fileCredentials,
  mapCredentials,
  type CredentialsProvider,
} from './credentials/credentialsProvider.ts';
export { defineFitness, type FitnessContext, type FitnessTarget, type Measurement } from './fitness/defineFitness.ts';
export { defineAgent, type Agent, type AgentConfig, type AgentLimits } from './runtime/defineAgent.ts';
export { provideAgent } from './runtime/provideAgent.ts';
export { elideToolOutputs, summarize, type ElideToolOutputsOptions, type SummarizeOptions } from './runtime/compaction/strategies.ts';
export { RECALL_TOOL, type CompactionInput, type CompactionOptions, type CompactionStep, type CompactionStrategy } from './runtime/compaction/strategy.ts';
export { Run } from './runtime/Run.ts';
export type { ApproveOptions, BeforeModelCall, KeyframeOptions, ModelCallInfo, RunOptions } from './runtime/runOptions.ts';
export { runAgent, startRun, startThreadRun } from './runtime/startRun.ts';
export type { PendingCall, RunEvent, RunResult } from './runtime/runEvents.ts';
export type { TelemetryOptions } from './telemetry/telemetryOptions.ts';
export { defineTool, type Tool, type ToolContext, type ToolDefinition } from './tools/defineTool.ts';
export { createToolbox, type Toolbox } from './tools/toolbox.ts';
export { connectMcp, type McpConnection, type McpOptions, type McpSkippedTool, type McpTransportOptions } from './mcp/index.ts';
export { filesystemTools, type FilesystemToolsOptions } from './toolsets/filesystem/filesystemTools.ts';
export { Workspace } from './toolsets/filesystem/Workspace.ts';
export { WorkspaceError } from './toolsets/filesystem/WorkspaceError.ts';
export { probeSandbox } from './sandbox/probeSandbox.ts';
export { runSandboxed } from './sandbox/runSandboxed.ts';
export { openStore } from './log/stores/openStore.ts';
export { MemoryStore } from './log/stores/memoryStore.ts';
export { SqliteStore } from './log/stores/sqlite/sqliteStore.ts';
export { PostgresStore } from './log/stores/postgres/postgresStore.ts';
// Workers: pg and pg-boss are loaded only when a worker or a submit first reaches the queue.
export { startWorker } from './worker/startWorker.ts';
export type { Worker } from './worker/Worker.ts';
export type { WorkerEvent, WorkerOptions } from './worker/workerOptions.ts';
export type { FleetLimitsOptions } from './worker/fleetLimits.ts';
export { queueDepth, type QueueDepth } from './worker/queueDepth.ts';
export { submitRun, type SubmitOptions, type Submitted } from './worker/submitRun.ts';
// Model rate limits: rate-limiter-flexible is loaded only when limits are opened.
export { openModelLimits, type ModelLimits, type ModelLimitsStore, type PacedCall } from './rateLimits/ModelLimits.ts';
export { modelEndpoint, ModelRateLimitError, type EndpointRateLimits, type ModelLimitsOptions, type ModelLimitWait } from './rateLimits/modelLimitsConfig.ts';
export { decideQueued, isWorkersRun, type QueuedDecision } from './worker/decideQueued.ts';
export type { RunStore, ListRunsFilter, ListedRun, HistoryEntry } from './log/stores/runStore.ts';
export type { RunHeader, RunOwner, RunRecord, RunSummary, Operation } from './log/format/record.ts';
export type { MachineEntry, MachineRef } from './log/format/machineEntry.ts';
export { stateAt, history } from './log/reads/reads.ts';
export { exportRun, importRun, type ExportOptions, type ImportOptions } from './log/exchange/jsonl.ts';
export { signingKey, verifyingKey } from './log/exchange/exportTrailer.ts';
export { verifyExport, verifyRun, type Verification } from './log/reads/verifyRun.ts';
export {
  CorruptRecordError,
  RunNotFoundError,
  RunExistsError,
  LeaseLostError,
  RecordNotFoundError,
  UnsafePatchError,
  UnsupportedFormatError,
} from './log/format/storageErrors.ts';
export { resumeRun, type ResumeOptions } from './runtime/resumeRun.ts';
export { RunInUseError } from './recorder/owner.ts';
export { forkRun, type ForkOptions } from './runtime/forkRun.ts';
export { forkThread, listThreads, threadRuns, type ForkThreadOptions, type ThreadRef, type ThreadSummary } from './runtime/threads.ts';
export { cancelRun, type CancelRunOptions, type CancelOutcome } from './runtime/cancelRun.ts';
export type { LiveChannel, LiveMessage } from './log/live/liveChannel.ts';
export { replayRun, type Divergence, type ReplayReport } from './runtime/replayRun.ts';
export type { AgentMemoryStore, MemoryScope, NewNote, Note, RecallQuery, RecalledNote, WorkingMemory } from './memory/agentMemoryStore.ts';
export { InMemoryAgentMemory } from './memory/InMemoryAgentMemory.ts';
export { SqliteAgentMemory } from './memory/SqliteAgentMemory.ts';
export { PostgresAgentMemory } from './memory/PostgresAgentMemory.ts';
export { openAgentMemory } from './memory/openAgentMemory.ts';
export type { MemoryLevel, MemoryOptions, WorkingMemoryOptions } from './runtime/memoryOptions.ts';
export { memoryMessages } from './runtime/memoryInput.ts';
