import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { RunSummary } from '../../log/format/record.ts';
import { requireScope } from './authGuard.ts';
import { followRun } from './followRun.ts';
import { ProblemError } from './problem.ts';
import { COMMON_PROBLEMS, problemResponses, RunIdParam } from './schemas.ts';
import { tenantRuns, type ServiceDeps } from './serviceDeps.ts';
import type { ServiceEnv } from './serviceEnv.ts';

const FINAL = new Set(['done', 'failed', 'halted', 'cancelled']);

const EventsQuery = z.object({
  after: z.string().optional().openapi({ description: 'The last record seq the client has (-1 for none); Last-Event-ID takes precedence' }),
});

const EVENTS_TEXT = `Server-Sent Events. \`record\` (id: the record's seq) for each record after the last one the client has,
\`status\` when the run's status or waiting calls change, \`delta\` for streamed text (no id), and \`end\` once an ended run
has sent every record, after which the stream closes. A client that reconnects with Last-Event-ID gets every record
it missed and none twice.`;

/** The seq after which a stream starts: Last-Event-ID, else `after`, else from the first record. */
function startAfter(lastEventId: string | undefined, after: string | undefined): number {
  const text = lastEventId ?? after;
  if (text === undefined || text === '') return -1;
  if (!/^(-1|\d+)$/.test(text.trim())) {
    throw new ProblemError(400, 'bad-event-id', 'Bad event id', `Expected ${lastEventId === undefined ? 'after' : 'Last-Event-ID'} to be a record seq (-1, 0, 1, ...), found "${text.slice(0, 40)}".`);
  }
  return Number(text);
}

const statusView = ({ owner: _owner, agentModule: _module, ...shown }: RunSummary) => shown;

export function eventRoutes(app: OpenAPIHono<ServiceEnv>, deps: ServiceDeps): void {
  app.openapi(
    createRoute({
      method: 'get', path: '/v1/runs/{runId}/events', summary: "Stream a run's events", description: EVENTS_TEXT, security: [{ bearer: [] }],
      request: { params: RunIdParam, query: EventsQuery },
      responses: { 200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } }, ...problemResponses(...COMMON_PROBLEMS, 404) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'runs:read');
      const { runId } = c.req.valid('param');
      const sent = startAfter(c.req.header('last-event-id'), c.req.valid('query').after);
      const run = await tenantRuns(deps, c).follow(runId);
      c.header('cache-control', 'no-store');
      c.header('x-accel-buffering', 'no');
      return streamSSE(c, async (stream) => {
        await stream.write('retry: 1000\n\n');
        let lastStatus = '';
        await followRun(deps, stream, runId, run, sent, {
          record: (entry) => stream.writeSSE({ id: String(entry.seq), event: 'record', data: JSON.stringify(entry) }),
          live: (event) => {
            if (event.type === 'delta') void stream.writeSSE({ event: 'delta', data: JSON.stringify({ step: event.step, text: event.text, ...(event.actor ? { actor: event.actor } : {}) }) }).catch(() => stream.abort());
          },
          settled: async (summary, caughtUp) => {
            const status = JSON.stringify([summary.status, summary.waitingOn ?? null]);
            if (status !== lastStatus) {
              lastStatus = status;
              await stream.writeSSE({ event: 'status', data: JSON.stringify(statusView(summary)) });
            }
            if (!FINAL.has(summary.status) || !caughtUp) return false;
            await stream.writeSSE({ event: 'end', data: JSON.stringify(statusView(summary)) });
            return true;
          },
        });
      }, async (error, stream) => {
        deps.logger.log('error', 'stream.failed', { requestId: c.get('requestId'), runId, error });
        await stream.writeSSE({ event: 'problem', data: JSON.stringify({ title: 'Stream failed', detail: 'The run could not be read; reconnect with Last-Event-ID to continue.' }) }).catch(() => {});
      }) as never;
    },
  );
}
