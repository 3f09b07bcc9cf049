import type { AnyStateMachine } from 'xstate';
import { agentMachine } from '../../machines/agentMachine.ts';
import { UserError } from '../errors.ts';
import { checkAgentConfig } from './checkAgentConfig.ts';
import { priceFor } from '../model/modelFacts.ts';
import { envPriceFile } from '../model/priceFile.ts';
import type { PriceTable } from '../model/pricing.ts';
import { envCredentials, type CredentialsProvider } from '../credentials/credentialsProvider.ts';
import type { FitnessTarget } from '../fitness/defineFitness.ts';
import { missingScopes, type Policy } from '../policy/policy.ts';
import type { AgentContext, ApprovalSettings } from '../protocol/agent.ts';
import type { ModelPort } from '../protocol/model.ts';
import { createToolbox, type Toolbox } from '../tools/toolbox.ts';
import { compactionOf } from './compaction/compactionOf.ts';
import { recallTool } from './compaction/recallTool.ts';
import type { Compaction, CompactionOptions } from './compaction/strategy.ts';
import type { Tool } from '../tools/defineTool.ts';
import { agentMemory, agentWorkingMemory, type AgentMemory, type AgentWorkingMemory, type MemoryOptions, type WorkingMemoryOptions } from './memoryOptions.ts';
import { memoryTools, workingMemoryTool } from './memoryTools.ts';

export interface AgentLimits {
  /** Model turns before the run halts (default 20). */
  maxSteps?: number;
  /** Input plus output tokens over the whole run. */
  maxTokens?: number;
  /** Spend in USD, priced as `modelFacts` says (the agent's prices, a price file, the catalogue); refused for a model with no known price. */
  maxCostUsd?: number;
  /** Wall-clock limit for the run in milliseconds, turned into a deadline when the run starts. */
  timeoutMs?: number;
}

export interface AgentConfig {
  /** Stable id of the agent, recorded with every run. */
  name: string;
  version?: string;
  instructions?: string;
  tools?: readonly Tool[];
  /**
   * A model port, or a model name: for the run's own agent, the OpenAI-compatible port chosen when the
   * run starts; for an invoked agent, the run's port switched to this model (`ModelPort.withModel`).
   */
  model?: ModelPort | string;
  limits?: AgentLimits;
  /** Prices per model; they override a price file (STATECRAFT_PRICES) and the bundled catalogue. */
  prices?: PriceTable;
  /** Ends the run as done when it returns true after a turn's tools have run. */
  stopWhen?: (context: Readonly<AgentContext>) => boolean;
  /** Tool calls of one model turn that run at once (default 4). */
  toolConcurrency?: number;
  /** Per-attempt timeout for tools that set none (default 60 s). */
  toolTimeoutMs?: number;
  /** Characters of tool output the model sees before it is cut (default 20,000). */
  maxToolOutputChars?: number;
  /**
   * Input tokens a model request may hold; the oldest turns are left out first. Defaults to the model's
   * context window less room for its answer, when a price file or the catalogue knows it. Counted
   * exactly for OpenAI's models, by a calibrated estimate for others.
   */
  maxContextTokens?: number;
  /**
   * The statechart to run; defaults to `agentMachine`. Either an agent machine built on `agentSetup`
   * (extended or replaced states, guards, actions), or a machine of your own that invokes the agents
   * named in `agents`; it receives the run's `AgentInput` and should output an `AgentOutput`.
   */
  machine?: AnyStateMachine;
  /** Agents the machine invokes as children, by the actor name it uses in `invoke.src`. */
  agents?: Record<string, Agent>;
  /** Scopes this agent holds (`fs:*` and `*` match many); the model is offered only tools whose scopes are granted. */
  grants?: readonly string[];
  /** Policies by tool name, or '*' for every tool; they combine with each tool's own (deny over ask over allow). */
  policies?: Record<string, Policy>;
  /** How long a human has to decide on a call, and what happens then (default: reject). */
  approval?: { timeoutMs?: number; onTimeout?: 'reject' | 'approve' };
  /** Where tools' secrets come from (default: STATECRAFT_SECRET_* environment variables). */
  credentials?: CredentialsProvider;
  /** Secret names (or patterns like `aws_*`) this agent's tools may read. */
  secrets?: readonly string[];
  /** Health targets evaluated after turns that ran tools; each result is recorded, a breach acts as the target says. */
  fitness?: readonly FitnessTarget[];
  /**
   * Compact the context when the next model input would pass a share of the window (`at`, default
   * 0.8): `summarize()`, `elideToolOutputs()`, several in order, or a strategy of your own. Without it,
   * a request that does not fit leaves out its oldest turns, unrecorded.
   */
  compaction?: CompactionOptions;
  /** Long-term memory: a `remember` tool, and relevant notes recalled into every request (see the README's "Memory and long runs"). */
  memory?: MemoryOptions;
  /** Structured memory shown in every request, changed with an `update_working_memory` tool. */
  workingMemory?: WorkingMemoryOptions;
}

/** A validated agent definition, ready to run. */
export interface Agent {
  readonly name: string;
  readonly version: string;
  readonly instructions: string | undefined;
  readonly toolbox: Toolbox;
  readonly model: ModelPort | string | undefined;
  readonly limits: Required<Pick<AgentLimits, 'maxSteps'>> & Omit<AgentLimits, 'maxSteps'>;
  readonly prices: PriceTable;
  readonly stopWhen: AgentConfig['stopWhen'];
  readonly toolConcurrency: number;
  readonly toolTimeoutMs: number;
  readonly maxToolOutputChars: number;
  readonly maxContextTokens: number | undefined;
  readonly machine: AnyStateMachine;
  readonly agents: Readonly<Record<string, Agent>>;
  readonly grants: readonly string[];
  readonly policies: Readonly<Record<string, Policy>>;
  readonly approval: ApprovalSettings;
  readonly credentials: CredentialsProvider;
  readonly secrets: readonly string[];
  readonly fitness: readonly FitnessTarget[];
  readonly compaction: Compaction | undefined;
  readonly memory: AgentMemory | undefined;
  readonly workingMemory: AgentWorkingMemory | undefined;
}

/**
 * Define an agent: instructions, tools, model and limits, validated now rather than mid-run.
 * @example
 * const agent = defineAgent({ name: 'helper', instructions: 'Be brief.', tools: [clock], limits: { maxSteps: 8 } });
 */
export function defineAgent(config: AgentConfig): Agent {
  if (!config.name || !/^[\w.-]{1,100}$/.test(config.name)) {
    throw new UserError(
      `Agent name must be 1-100 letters, digits, '_', '-' or '.', found ${JSON.stringify(config.name)}.`,
    );
  }
  checkAgentConfig(config);
  const limits = { ...config.limits, maxSteps: config.limits?.maxSteps ?? 20 };
  if (config.approval?.onTimeout !== undefined && !['reject', 'approve'].includes(config.approval.onTimeout)) {
    throw new UserError(`Agent "${config.name}": approval.onTimeout must be 'reject' or 'approve', found ${JSON.stringify(config.approval.onTimeout)}.`);
  }
  for (const [tool, policy] of Object.entries(config.policies ?? {})) {
    if (typeof policy !== 'function' && !['allow', 'ask', 'deny'].includes(policy)) {
      throw new UserError(`Agent "${config.name}": the policy for "${tool}" must be 'allow', 'ask', 'deny' or a function, found ${JSON.stringify(policy)}.`);
    }
  }
  const prices = { ...config.prices };
  const compaction = compactionOf(config.name, config.compaction);
  const tools = [...(config.tools ?? [])];
  if (compaction?.strategies.some((strategy) => strategy.elides)) {
    if (tools.some((tool) => tool.name === recallTool.name)) {
      throw new UserError(`Agent "${config.name}" has a tool named "${recallTool.name}", the name of the tool its compaction offers for elided outputs. Rename the tool.`);
    }
    tools.push(recallTool);
  }
  const memory = agentMemory(config.name, config.memory);
  const workingMemory = agentWorkingMemory(config.name, config.workingMemory, config.memory);
  const builtIn = [...(memory ? memoryTools(config.name, memory) : []), ...(workingMemory ? [workingMemoryTool(config.name, workingMemory)] : [])];
  const agent: Agent = Object.freeze({
    name: config.name,
    version: config.version ?? '0',
    instructions: config.instructions,
    toolbox: createToolbox([...tools, ...builtIn]),
    model: config.model,
    limits,
    prices,
    stopWhen: config.stopWhen,
    toolConcurrency: config.toolConcurrency ?? 4,
    toolTimeoutMs: config.toolTimeoutMs ?? 60_000,
    maxToolOutputChars: config.maxToolOutputChars ?? 20_000,
    maxContextTokens: config.maxContextTokens,
    machine: config.machine ?? agentMachine,
    agents: Object.freeze({ ...config.agents }),
    grants: Object.freeze([...(config.grants ?? [])]),
    policies: Object.freeze({ ...config.policies }),
    approval: { onTimeout: config.approval?.onTimeout ?? 'reject', ...(config.approval?.timeoutMs ? { timeoutMs: config.approval.timeoutMs } : {}) },
    credentials: config.credentials ?? envCredentials(),
    secrets: Object.freeze([...(config.secrets ?? [])]),
    fitness: Object.freeze([...(config.fitness ?? [])]),
    compaction,
    memory,
    workingMemory,
  });
  const names = agent.fitness.map((target) => target.name);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated) throw new UserError(`Agent "${agent.name}" has two fitness targets named "${repeated}"; names must be unique.`);
  checkGrants(agent, config.grants !== undefined);
  const modelName = typeof agent.model === 'string' ? agent.model : agent.model?.info.model;
  if (modelName !== undefined) assertPriced(agent, modelName);
  return agent;
}

/** An agent without grants may not carry tools that need scopes: say which grants would let it. */
function checkGrants(agent: Agent, explicit: boolean) {
  const unknownPolicies = Object.keys(agent.policies).filter((name) => name !== '*' && !agent.toolbox.get(name));
  if (unknownPolicies.length) {
    throw new UserError(`Agent "${agent.name}" has policies for tools it does not have: ${unknownPolicies.join(', ')}. Tools: ${agent.toolbox.tools.map((t) => t.name).join(', ') || 'none'}.`);
  }
  if (explicit) return;
  const needy = agent.toolbox.tools.filter((tool) => tool.scopes.length > 0);
  if (!needy.length) return;
  const scopes = [...new Set(needy.flatMap((tool) => tool.scopes))];
  throw new UserError(
    `Agent "${agent.name}" has tools that need scopes (${needy.map((t) => `${t.name}: ${t.scopes.join(', ')}`).join('; ')}) but no grants. ` +
      `Grant what it may do, e.g. grants: ${JSON.stringify(scopes)}, or grants: ['*'] for everything.`,
  );
}

/** Tools the agent's grants allow, in definition order: the ones the model is offered. */
export function permittedTools(agent: Agent) {
  return agent.toolbox.tools.filter((tool) => missingScopes(tool.scopes, agent.grants).length === 0);
}

/**
 * Refuse a cost budget that cannot be enforced because the model has no price: the agent's own, and
 * those of the agents it invokes, each priced for the model it will call (its own port or model name, else the run's).
 */
export function assertPriced(agent: Agent, model: string): void {
  // A price file that cannot be used is refused before the run starts, budget or not, rather than at its first answer.
  envPriceFile();
  assertOwnPriced(agent, model);
  for (const sub of Object.values(agent.agents)) assertPriced(sub, typeof sub.model === 'object' ? sub.model.info.model : (sub.model ?? model));
}

function assertOwnPriced(agent: Agent, model: string): void {
  if (agent.limits.maxCostUsd === undefined || priceFor(model, agent.prices)) return;
  throw unpricedBudget(agent.name, agent.limits.maxCostUsd, model);
}

/** The error for a cost budget on a model the agent's price table does not know. */
export function unpricedBudget(agent: string, maxCostUsd: number, model: string): UserError {
  return new UserError(
    `Agent "${agent}" has a cost budget of $${maxCostUsd} but model "${model}" has no known price, ` +
      `so the budget could not be enforced. Add it to the agent's prices, e.g. prices: { "${model}": { inputPerMTok: 0.5, outputPerMTok: 1.5 } }, ` +
      `or to a price file named by STATECRAFT_PRICES ({ "models": { "${model}": { "inputPerMTok": 0.5, "outputPerMTok": 1.5 } } }), ` +
      'or remove the cost budget (limits.maxCostUsd).',
  );
}
