// In a fresh process: resume a run waiting for approval, approve, and time until its tool has run.
const started = performance.now();
const { openStore, resumeRun } = await import('../src/index.ts');
const { agent } = await import('./logBenchAgent.ts');
const importMs = performance.now() - started;
const [url, runId] = process.argv.slice(2) as [string, string];
const t0 = performance.now();
const store = openStore(url);
const run = await resumeRun(agent, runId, { store, model: { info: { provider: 'none', model: 'none', params: {} }, complete: () => new Promise(() => {}) } });
await new Promise<void>((done) => {
  run.on((event) => {
    if (event.type === 'approval.requested') setImmediate(() => run.approve(event.calls[0]!.id));
    if (event.type === 'tool.end') done();
  });
});
const resumeMs = performance.now() - t0;
console.log(JSON.stringify({ importMs, resumeMs }));
process.exit(0);
