import { UserError } from '../errors.ts';
import { closestName } from '../nearestName.ts';
import { PriceSchema, priceProblems } from '../model/priceSchema.ts';
import type { AgentConfig, AgentLimits } from './defineAgent.ts';

// Records rather than lists, so that tsc fails here when AgentConfig gains a setting not named below.
const agentKeys: Record<keyof AgentConfig, true> = {
  name: true, version: true, instructions: true, tools: true, model: true, limits: true, prices: true, stopWhen: true,
  toolConcurrency: true, toolTimeoutMs: true, maxToolOutputChars: true, maxContextTokens: true, machine: true,
  agents: true, grants: true, policies: true, approval: true, credentials: true, secrets: true, fitness: true, compaction: true,
  memory: true, workingMemory: true,
};
const limitKeys: Record<keyof AgentLimits, true> = { maxSteps: true, maxTokens: true, maxCostUsd: true, timeoutMs: true };
const approvalKeys: Record<keyof NonNullable<AgentConfig['approval']>, true> = { timeoutMs: true, onTimeout: true };
const memoryKeys: Record<keyof NonNullable<AgentConfig['memory']>, true> = { store: true, scope: true, recall: true, embeddings: true, forgetTool: true };
const workingKeys: Record<keyof NonNullable<AgentConfig['workingMemory']>, true> = { schema: true, scope: true, store: true };

/** Refuse settings that would be ignored or would break the run later: unknown keys, bad counts, malformed prices. */
export function checkAgentConfig(config: AgentConfig): void {
  const agent = config.name;
  const where = (field: string) => (field ? `Agent "${agent}": ${field}` : `Agent "${agent}"`);
  refuseUnknown(config, agentKeys, where(''), true);
  if (config.limits !== undefined) refuseUnknown(config.limits, limitKeys, where('limits'));
  if (config.approval !== undefined) refuseUnknown(config.approval, approvalKeys, where('approval'));
  if (config.memory !== undefined) refuseUnknown(config.memory, memoryKeys, where('memory'));
  if (config.workingMemory !== undefined) refuseUnknown(config.workingMemory, workingKeys, where('workingMemory'));

  const limits: AgentLimits = config.limits ?? {};
  wholeCount(where('limits.maxSteps'), limits.maxSteps);
  wholeCount(where('limits.maxTokens'), limits.maxTokens);
  positive(where('limits.maxCostUsd'), limits.maxCostUsd);
  positive(where('limits.timeoutMs'), limits.timeoutMs);
  wholeCount(where('toolConcurrency'), config.toolConcurrency);
  positive(where('toolTimeoutMs'), config.toolTimeoutMs);
  wholeCount(where('maxToolOutputChars'), config.maxToolOutputChars);
  wholeCount(where('maxContextTokens'), config.maxContextTokens);
  positive(where('approval.timeoutMs'), config.approval?.timeoutMs);
  checkPrices(agent, config.prices);
}

function positive(field: string, value: number | undefined) {
  if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new UserError(`${field} must be a positive number, found ${String(value)}.`);
  }
}

function wholeCount(field: string, value: number | undefined) {
  if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
    throw new UserError(`${field} must be a positive whole number, found ${String(value)}.`);
  }
}

function refuseUnknown(object: object, known: Record<string, true>, owner: string, topLevel = false) {
  const names = Object.keys(known);
  const unknown = Object.keys(object).find((key) => !Object.hasOwn(known, key));
  if (unknown === undefined) return;
  const suggestion = topLevel && Object.hasOwn(limitKeys, unknown) ? `limits: { ${unknown} }` : closestName(unknown, names);
  const hint = suggestion === undefined ? '.' : `; did you mean "${suggestion}"?`;
  throw new UserError(`${owner} has no setting "${unknown}"${hint} Known: ${names.join(', ')}.`);
}

function checkPrices(agent: string, prices: AgentConfig['prices']) {
  if (prices === undefined) return;
  const example = (model: string) => `prices: { ${JSON.stringify(model)}: { inputPerMTok: 0.5, outputPerMTok: 1.5 } } (USD per million tokens, each a finite number >= 0)`;
  if (typeof prices !== 'object' || prices === null || Array.isArray(prices)) {
    throw new UserError(`Agent "${agent}": prices must be an object of prices by model name, found ${JSON.stringify(prices)}. Write ${example('my-model')}.`);
  }
  for (const [model, price] of Object.entries(prices)) {
    const parsed = PriceSchema.safeParse(price);
    if (parsed.success) continue;
    const problems = priceProblems(parsed.error, price, 'price');
    throw new UserError(`Agent "${agent}": the price for model ${JSON.stringify(model)} is not usable: ${problems.join('; ')}. Write ${example(model)}.`, { cause: parsed.error });
  }
}
