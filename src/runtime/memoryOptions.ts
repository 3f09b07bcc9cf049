import { z } from 'zod';
import { UserError } from '../errors.ts';
import type { AgentMemoryStore, MemoryScope } from '../memory/agentMemoryStore.ts';
import { openAgentMemory } from '../memory/openAgentMemory.ts';
import type { RunIdentity } from '../protocol/agent.ts';
import type { ModelPort } from '../protocol/model.ts';

/**
 * Whose memory an agent keeps: each user's (with this agent), each thread's (of a user), or one for
 * the agent shared by all its users. Always within the run's tenant.
 */
export type MemoryLevel = 'user' | 'thread' | 'agent';

/** An agent's long-term memory: notes saved with the `remember` tool and recalled into each request. */
export interface MemoryOptions {
  /** Where notes are kept (default: `openAgentMemory()`, beside the default run store, opened on first use). */
  store?: AgentMemoryStore;
  /** Default 'user'. */
  scope?: MemoryLevel;
  /** How many notes are recalled into a request (default 5), and for semantic recall the least cosine similarity; `false` for none. */
  recall?: { limit?: number; minScore?: number } | false;
  /** A model port with `embed` (createOpenAIModel's): notes get vectors and recall is semantic. Without it, recall is full-text search. */
  embeddings?: Pick<ModelPort, 'embed'>;
  /** Offer the model a `forget` tool (default true); `remember` is always offered. */
  forgetTool?: boolean;
}

/** Structured memory the agent sees in every request and changes with `update_working_memory`. */
export interface WorkingMemoryOptions<S extends z.ZodObject = z.ZodObject> {
  /** What it holds; every field may be unknown (absent) until set. */
  schema: S;
  /** Default 'user'. */
  scope?: MemoryLevel;
  /** Default: the long-term memory's store, else `openAgentMemory()`. */
  store?: AgentMemoryStore;
}

/** An agent's memory settings, checked, with its store opened on first use. */
export interface AgentMemory {
  readonly level: MemoryLevel;
  readonly limit: number;
  readonly minScore: number | undefined;
  readonly embeddings: Pick<ModelPort, 'embed'> | undefined;
  readonly forgetTool: boolean;
  store(): AgentMemoryStore;
}

export interface AgentWorkingMemory {
  readonly level: MemoryLevel;
  readonly schema: z.ZodObject;
  store(): AgentMemoryStore;
}

const LEVELS: readonly MemoryLevel[] = ['user', 'thread', 'agent'];

function checkLevel(agent: string, option: string, level: unknown): MemoryLevel {
  if (level === undefined) return 'user';
  if (!LEVELS.includes(level as MemoryLevel)) throw new UserError(`Agent "${agent}": ${option}.scope must be 'user', 'thread' or 'agent', found ${JSON.stringify(level)}.`);
  return level as MemoryLevel;
}

const lazily = (given: AgentMemoryStore | undefined) => {
  let store = given;
  return () => (store ??= openAgentMemory());
};

/** The long-term memory settings of an agent, checked when it is defined. */
export function agentMemory(agent: string, options: MemoryOptions | undefined): AgentMemory | undefined {
  if (options === undefined) return undefined;
  const recall = options.recall === false ? { limit: 0 } : (options.recall ?? {});
  const limit = recall.limit ?? 5;
  if (!Number.isInteger(limit) || limit < 0 || limit > 100) throw new UserError(`Agent "${agent}": memory.recall.limit must be a whole number from 0 to 100, found ${String(limit)}.`);
  if (options.embeddings !== undefined && typeof options.embeddings.embed !== 'function') {
    throw new UserError(`Agent "${agent}": memory.embeddings must be a model port with an embed function, such as createOpenAIModel({ embeddingModel: 'text-embedding-3-small' }).`);
  }
  return Object.freeze({
    level: checkLevel(agent, 'memory', options.scope),
    limit,
    minScore: 'minScore' in recall ? recall.minScore : undefined,
    embeddings: options.embeddings,
    forgetTool: options.forgetTool ?? true,
    store: lazily(options.store),
  });
}

/** The working memory settings of an agent, checked when it is defined. */
export function agentWorkingMemory(agent: string, options: WorkingMemoryOptions | undefined, memory: MemoryOptions | undefined): AgentWorkingMemory | undefined {
  if (options === undefined) return undefined;
  if (!(options.schema instanceof z.ZodObject)) throw new UserError(`Agent "${agent}": workingMemory.schema must be a zod object (z.object({...})).`);
  return Object.freeze({ level: checkLevel(agent, 'workingMemory', options.scope), schema: options.schema, store: lazily(options.store ?? memory?.store) });
}

/** The scope a run's memory lives in, refused when the run's identity lacks what the level needs. */
export function memoryScope(level: MemoryLevel, agent: string, identity: RunIdentity | undefined, runId: string): MemoryScope {
  const tenant = identity?.tenant ? { tenant: identity.tenant } : {};
  if (level === 'agent') return { ...tenant, agent };
  if (!identity?.user) {
    throw new UserError(`Agent "${agent}" keeps its memory per ${level}, but run ${runId} has no user: start it with identity: { user: '...' }${level === 'thread' ? " and a thread" : ''}, or keep the agent's memory with scope: 'agent'.`);
  }
  if (level === 'user') return { ...tenant, user: identity.user, agent };
  if (!identity.thread) throw new UserError(`Agent "${agent}" keeps its memory per thread, but run ${runId} has no thread: start it with identity: { user: '${identity.user}', thread: '...' }.`);
  return { ...tenant, user: identity.user, agent, thread: identity.thread };
}

/** The identity a run's header labels hold. */
export function identityOf(labels: Record<string, string> | undefined): RunIdentity | undefined {
  const tenant = labels?.['statecraft.tenant'];
  const user = labels?.['statecraft.user'];
  const thread = labels?.['statecraft.thread'] ?? labels?.['thread'];
  if (!tenant && !user && !thread) return undefined;
  return { ...(tenant ? { tenant } : {}), ...(user ? { user } : {}), ...(thread ? { thread } : {}) };
}

/** The header labels that keep an identity. */
export function identityLabels(identity: RunIdentity | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (identity?.tenant) labels['statecraft.tenant'] = identity.tenant;
  if (identity?.user) labels['statecraft.user'] = identity.user;
  if (identity?.thread) labels['statecraft.thread'] = identity.thread;
  return labels;
}

/** Refuses, before a run starts, an identity that lacks what its agent's memory needs (a user, a thread). */
export function checkMemoryIdentity(agent: { name: string; memory: { level: MemoryLevel } | undefined; workingMemory: { level: MemoryLevel } | undefined }, identity: RunIdentity, runId: string): void {
  if (agent.memory) memoryScope(agent.memory.level, agent.name, identity, runId);
  if (agent.workingMemory) memoryScope(agent.workingMemory.level, agent.name, identity, runId);
}
