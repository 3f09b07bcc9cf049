import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { conversationOf, RunAgentInputBody } from '../agui/aguiInput.ts';
import { decisionsOf, parseInterruptId, type WaitingCall } from '../agui/aguiInterrupts.ts';
import { AguiExchange, streamAgui, type AguiFollow } from '../agui/aguiStream.ts';
import { KEY_LABEL, TENANT_LABEL } from '../TenantRuns.ts';
import { requireScope } from './authGuard.ts';
import { decideCall } from './decideCall.ts';
import { withinRunSlot } from './limitRoutes.ts';
import { ProblemError } from './problem.ts';
import { COMMON_PROBLEMS, problemResponses } from './schemas.ts';
import { tenantRuns, type ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const AgentParam = z.object({ agent: z.string().min(1).max(200).openapi({ param: { name: 'agent', in: 'path' }, example: 'support' }) });

const AGUI_TEXT = `An AG-UI 1.0 endpoint (point an AG-UI or CopilotKit client's HttpAgent at it, with the API key as a bearer header).
The answer is Server-Sent Events, each a JSON AG-UI event: RUN_STARTED; STATE_SNAPSHOT of the run's context (less its messages),
then STATE_DELTA with each record's own JSON patch; TEXT_MESSAGE_START/CONTENT/END for the agent's text (streamed as it comes
when the run executes on this instance); TOOL_CALL_START/ARGS/END and TOOL_CALL_RESULT; and RUN_FINISHED, whose outcome is
\`interrupt\` when calls wait for approval, or RUN_ERROR. A request whose messages end with the user's starts a run of the thread
(scope runs:create); a request with \`resume\` entries answers the interrupts (scope approvals:decide) with the payload
{"approved": true|false, "argsHash": "<the interrupt's metadata.argsHash>", "by": "<person>", "reason": "<for a rejection>"}
(\`cancelled\` rejects) and streams the run on from there.`;

const unknownAgent = (deps: ServiceDeps, agent: string) =>
  new ProblemError(422, 'unknown-agent', 'Unknown agent', `No agent "${agent}" is served here; agents served: ${deps.executor.agentIds().join(', ') || 'none'}.`);

async function startThreadRun(deps: ServiceDeps, c: Context<ServiceEnv>, agent: string, input: RunAgentInputBody): Promise<{ exchange: AguiExchange; follow: AguiFollow }> {
  const principal = c.get('principal');
  requireScope(principal, 'runs:create');
  const { input: text, history } = conversationOf(input.messages);
  const runs = tenantRuns(deps, c);
  const [waiting] = (await runs.list({ thread: input.threadId, status: ['waiting'], limit: 1 })).runs;
  if (waiting) {
    throw new ProblemError(409, 'thread-interrupted', 'Thread interrupted',
      `Thread "${input.threadId}" has run ${waiting.runId} waiting for approval of its calls: answer its interrupts with \`resume\` entries (status "cancelled" rejects a call) before starting another run of the thread.`);
  }
  const { runId, exchange } = await withinRunSlot(deps, principal.tenantId, async () => {
    const claimed = await runs.claim(principal.key.keyId, input.threadId);
    const listening = new AguiExchange({ threadId: input.threadId, runId: input.runId, statecraftRunId: claimed });
    listening.listen(deps, claimed);
    try {
      const labels = { [TENANT_LABEL]: principal.tenantId, [KEY_LABEL]: principal.key.keyId, thread: input.threadId };
      await deps.executor.start({ runId: claimed, agentId: agent, input: text, labels, ...(history.length ? { history } : {}) });
    } catch (error) {
      listening.close();
      throw error;
    }
    return { runId: claimed, exchange: listening };
  });
  deps.logger.log('info', 'run.started', { requestId: c.get('requestId'), tenant: principal.tenantId, keyId: principal.key.keyId, runId, agent, via: 'ag-ui' });
  return { exchange, follow: { runId, run: await runs.follow(runId), after: -1, decided: new Set(), usedBefore: { inputTokens: 0, outputTokens: 0 } } };
}

async function resumeThreadRun(deps: ServiceDeps, c: Context<ServiceEnv>, agent: string, input: RunAgentInputBody): Promise<{ exchange: AguiExchange; follow: AguiFollow }> {
  requireScope(c.get('principal'), 'approvals:decide');
  const entries = input.resume ?? [];
  const targets = entries.map((entry) => parseInterruptId(entry.interruptId));
  const runId = targets[0]!.runId;
  const other = targets.find((target) => target.runId !== runId);
  if (other) {
    throw new ProblemError(400, 'interrupts-of-several-runs', 'Interrupts of several runs', `The resume entries answer interrupts of runs ${runId} and ${other.runId}: answer the interrupts of one RUN_FINISHED in a request.`);
  }
  const runs = tenantRuns(deps, c);
  // Checked first: another tenant's run is answered 404, exactly as one that does not exist.
  const ownership = await runs.owned(runId);
  if (ownership.thread !== input.threadId) {
    throw new ProblemError(422, 'wrong-thread', 'Wrong thread', `Run ${runId} belongs to thread "${ownership.thread ?? '(none)'}", not "${input.threadId}": resume it with the threadId of the run that paused.`);
  }
  const { header, summary } = await runs.get(runId);
  if (header.agent.id !== agent) throw new ProblemError(422, 'wrong-agent', 'Wrong agent', `Run ${runId} is a run of agent "${header.agent.id}", not "${agent}": resume it at /v1/agui/${header.agent.id}.`);
  const waiting = summary.status === 'waiting' && Array.isArray(summary.waitingOn) ? (summary.waitingOn as WaitingCall[]) : [];
  const decisions = decisionsOf(runId, summary.status, waiting, entries);
  const run = await runs.follow(runId);
  const exchange = new AguiExchange({ threadId: input.threadId, runId: input.runId, statecraftRunId: runId });
  try {
    exchange.translator.snapshot(await run.stateAt(summary.lastSeq), summary.lastSeq);
    exchange.listen(deps, runId);
    for (const decision of decisions) await decideCall(deps, c, runId, decision);
  } catch (error) {
    exchange.close();
    throw error;
  }
  return { exchange, follow: { runId, run, after: summary.lastSeq, decided: new Set(decisions.map((decision) => decision.callId)), usedBefore: summary } };
}

export function aguiRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps): void {
  app.openapi(
    createRoute({
      method: 'post', path: '/v1/agui/{agent}', summary: 'Run an agent for an AG-UI client, or resume its interrupted run', description: AGUI_TEXT, security: [{ bearer: [] }],
      request: { params: AgentParam, body: { required: true, content: { 'application/json': { schema: RunAgentInputBody } } } },
      responses: { 200: { description: 'AG-UI events', content: { 'text/event-stream': { schema: z.string() } } }, ...problemResponses(...COMMON_PROBLEMS, 404, 409, 413, 422) },
    }),
    async (c) => {
      const { agent } = c.req.valid('param');
      const input = c.req.valid('json');
      if (!deps.executor.agentIds().includes(agent)) throw unknownAgent(deps, agent);
      const { exchange, follow } = input.resume?.length ? await resumeThreadRun(deps, c, agent, input) : await startThreadRun(deps, c, agent, input);
      return streamAgui(c, deps, exchange, follow);
    },
  );
}
