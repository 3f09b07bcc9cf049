// The load on the service: run creations and reads at steady rates, scheduled by the clock (open
// loop: a slow answer does not delay the next request, and a request's latency counts from when it
// was due, so a stalled server shows in the figures instead of slowing the load), and SSE clients that
// each follow a run's events to its end and then the newest run, checking that record ids run 0, 1,
// 2, ... with no gap and no repeat. One follow in ten drops its connection after its first record and
// reconnects with Last-Event-ID, as a client on a flaky network does.
import http from 'node:http';

export interface Tenant {
  id: string;
  key: string;
}

export interface LoadOptions {
  url: string;
  tenants: Tenant[];
  createsPerSecond: number;
  getsPerSecond: number;
  listsPerSecond: number;
  usagePerSecond: number;
  sseClients: number;
  warmupMs: number;
  measureMs: number;
  /** How long followers may take to finish their runs once the load stops. */
  drainMs: number;
  /** Called when the measured window opens and closes. */
  onWindow(edge: 'start' | 'end'): Promise<void>;
}

export interface LoadFigures {
  latencies: Record<string, number[]>;
  requests: number;
  errors: Record<string, number>;
  errorSamples: string[];
  created: number;
  /** Asked within the window and answered 201, whenever. */
  createdEventually: number;
  follows: number;
  plannedReconnects: number;
  events: number;
  records: number;
  openStreams: number[];
  runsEnded: Record<string, number>;
}

// Idle sockets are dropped well before the server's keep-alive timeout (5 s), so that no request goes out on a socket the server is closing.
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, timeout: 2000 });

function request(url: string, method: string, path: string, key: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${url}${path}`, { method, agent, headers: { authorization: `Bearer ${key}`, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Calls `fire` `rate` times a second, each with the time it was due, until `stopAt` (performance.now()). */
function openLoop(rate: number, stopAt: number, fire: (dueAt: number) => void): Promise<void> {
  if (rate <= 0) return Promise.resolve();
  const start = performance.now();
  let n = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (let due = start + (n * 1000) / rate; due <= now; due = start + (n * 1000) / rate) {
        if (due >= stopAt) return resolve();
        fire(due);
        n += 1;
      }
      setTimeout(tick, Math.max(0, start + (n * 1000) / rate - performance.now()));
    };
    tick();
  });
}

type SseEvent = { id?: string; event: string; data: string };

/**
 * One SSE connection to a run's events from `after`; `onEvent` answers true to hang up. Resolves
 * 'closed' when the server ended the stream, 'hung-up' when we did, or rejects on a network error.
 */
function sse(url: string, key: string, runId: string, after: number, opened: (status: number) => void, onEvent: (event: SseEvent) => boolean): Promise<'closed' | 'hung-up'> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${key}`, accept: 'text/event-stream', ...(after >= 0 ? { 'last-event-id': String(after) } : {}) };
    const req = http.request(`${url}/v1/runs/${runId}/events`, { agent, headers }, (res) => {
      opened(res.statusCode ?? 0);
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`events answered ${res.statusCode}`));
      }
      let buffer = '';
      let done = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while (!done && (cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event: SseEvent = { event: 'message', data: '' };
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':');
            if (colon <= 0) continue;
            const name = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, '');
            if (name === 'id') event.id = value;
            else if (name === 'event') event.event = value;
            else if (name === 'data') event.data += value;
          }
          if (event.event === 'message' && event.data === '') continue;
          if (onEvent(event)) {
            done = true;
            req.destroy();
            resolve('hung-up');
          }
        }
      });
      res.on('end', () => resolve('closed'));
      res.on('error', (error) => (done ? undefined : reject(error)));
    });
    req.on('error', (error) => reject(error));
    req.end();
  });
}

export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const { url, tenants } = options;
  const figures: LoadFigures = { latencies: {}, requests: 0, errors: {}, errorSamples: [], created: 0, createdEventually: 0, follows: 0, plannedReconnects: 0, events: 0, records: 0, openStreams: [], runsEnded: {} };
  const began = performance.now();
  const windowStart = began + options.warmupMs;
  const windowEnd = windowStart + options.measureMs;
  const inWindow = (at: number) => at >= windowStart && at < windowEnd;
  const error = (kind: string, detail: string) => {
    figures.errors[kind] = (figures.errors[kind] ?? 0) + 1;
    if (figures.errorSamples.length < 10) figures.errorSamples.push(`${kind}: ${detail}`);
  };
  /** Runs created, newest last, with the tenant that owns them. */
  const runs: { runId: string; tenant: Tenant }[] = [];
  let unfollowed: { runId: string; tenant: Tenant }[] = [];
  let waiters: (() => void)[] = [];
  let stopping = false;

  const timed = (name: string, dueAt: number, tenant: Tenant, method: string, path: string, body?: unknown) =>
    request(url, method, path, tenant.key, body).then(
      (answer) => {
        if (inWindow(dueAt)) {
          (figures.latencies[name] ??= []).push(performance.now() - dueAt);
          figures.requests += 1;
        }
        if (answer.status >= 300) error(`${name} ${answer.status}`, answer.text.slice(0, 200));
        return answer;
      },
      (failure: Error) => {
        if (inWindow(dueAt)) figures.requests += 1;
        error(`${name} network`, failure.message);
        return undefined;
      },
    );

  const tenantAt = (n: number) => tenants[n % tenants.length]!;
  let made = 0;
  const loops = [
    openLoop(options.createsPerSecond, windowEnd, (dueAt) => {
      const tenant = tenantAt(made++);
      void timed('POST /v1/runs', dueAt, tenant, 'POST', '/v1/runs', { agent: 'orders', input: 'Where is order A1?' }).then((answer) => {
        if (answer?.status !== 201) return;
        // Achieved: answered within the window, not only asked in it.
        if (inWindow(dueAt) && performance.now() < windowEnd) figures.created += 1;
        if (inWindow(dueAt)) figures.createdEventually += 1;
        const run = { runId: (JSON.parse(answer.text) as { runId: string }).runId, tenant };
        runs.push(run);
        unfollowed.push(run);
        if (unfollowed.length > 1000) unfollowed = unfollowed.slice(-500);
        for (const wake of waiters.splice(0)) wake();
      });
    }),
    openLoop(options.getsPerSecond, windowEnd, (dueAt) => {
      const run = runs[Math.floor(Math.random() * runs.length)];
      if (run) void timed('GET /v1/runs/{id}', dueAt, run.tenant, 'GET', `/v1/runs/${run.runId}`);
    }),
    openLoop(options.listsPerSecond, windowEnd, (dueAt) => void timed('GET /v1/runs', dueAt, tenantAt(Math.floor(Math.random() * tenants.length)), 'GET', '/v1/runs?limit=20')),
    openLoop(options.usagePerSecond, windowEnd, (dueAt) => void timed('GET /v1/usage', dueAt, tenantAt(Math.floor(Math.random() * tenants.length)), 'GET', '/v1/usage')),
  ];

  let open = 0;
  /** Follows one run to its end; reconnects with Last-Event-ID after a planned or unplanned drop. */
  const follow = async (run: { runId: string; tenant: Tenant }) => {
    let last = -1;
    let hangUpEarly = Math.random() < 0.1;
    for (let attempt = 0; attempt < 5; attempt++) {
      let ended: { status: string; lastSeq: number } | undefined;
      let counted = false;
      const outcome = await sse(url, run.tenant.key, run.runId, last, (status) => {
        if (status === 200) (open += 1), (counted = true);
      }, (event) => {
        if (performance.now() < windowEnd && performance.now() >= windowStart) figures.events += 1;
        if (event.event === 'record') {
          const id = Number(event.id);
          if (id !== last + 1) error('sse gap', `run ${run.runId}: record ${id} after ${last}`);
          last = id;
          figures.records += 1;
          if (hangUpEarly) return !(hangUpEarly = false);
        } else if (event.event === 'end') {
          ended = JSON.parse(event.data) as { status: string; lastSeq: number };
        } else if (event.event === 'problem') error('sse problem', event.data.slice(0, 200));
        return false;
      }).catch((failure: Error) => (error('sse dropped', `run ${run.runId}: ${failure.message}`), 'failed' as const)).finally(() => counted && (open -= 1));
      if (ended) {
        figures.runsEnded[ended.status] = (figures.runsEnded[ended.status] ?? 0) + 1;
        if (ended.lastSeq !== last) error('sse missed the tail', `run ${run.runId}: ended at ${ended.lastSeq}, last record seen ${last}`);
        if (ended.status !== 'done') error(`run ${ended.status}`, run.runId);
        return;
      }
      if (outcome === 'hung-up') figures.plannedReconnects += 1;
      else if (outcome === 'closed') error('sse closed before its end', `run ${run.runId} after record ${last}`);
      if (stopping && performance.now() > windowEnd + options.drainMs) return;
    }
  };
  const slots = Array.from({ length: options.sseClients }, async () => {
    while (!stopping) {
      // The newest run nobody follows yet, else the newest run: runs end faster than they are made, and a client's run may have other watchers.
      const run = unfollowed.pop() ?? (stopping ? undefined : runs.at(-1));
      if (!run) {
        await new Promise<void>((resolve) => waiters.push(resolve));
        continue;
      }
      if (performance.now() >= windowStart && performance.now() < windowEnd) figures.follows += 1;
      await follow(run);
    }
  });
  const sampler = setInterval(() => {
    const now = performance.now();
    if (now >= windowStart && now < windowEnd) figures.openStreams.push(open);
  }, 250);

  await new Promise((resolve) => setTimeout(resolve, options.warmupMs));
  await options.onWindow('start');
  await Promise.all(loops);
  await options.onWindow('end');
  clearInterval(sampler);
  stopping = true;
  for (const wake of waiters.splice(0)) wake();
  waiters = [];
  const drained = await Promise.race([Promise.all(slots).then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), options.drainMs))]);
  if (!drained) error('sse not ended after the load stopped', `${open} streams still open after ${options.drainMs} ms`);
  agent.destroy();
  return figures;
}
