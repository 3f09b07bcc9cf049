import type { Command } from '../args.ts';
import { storeHelp, storeOptions } from './commonOptions.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'host agents as an HTTP service: API keys per tenant, runs, approvals, SSE streams',
  usage: 'statecraft serve --agents MODULE[,MODULE] [--port N] [--host ADDRESS] [--store URL] [--config FILE]',
  help: `Serves the agents of the named modules over HTTP (JSON API, OpenAPI 3.1 at /openapi.json), and
nothing else: the service never loads code a request names. Every request under /v1 needs an API key
(statecraft keys create), which belongs to one tenant: a key sees, streams, forks and decides the
runs of its tenant only, and a run of another tenant is answered as one that does not exist (404).
Errors are RFC 9457 problem documents (application/problem+json). Logs are JSON lines on stdout,
with keys and secrets redacted.

Runs execute in this process. A run that comes to wait for approval is let go, and a decision
resumes it in whichever instance receives it: several instances may share one PostgreSQL store.
SIGTERM or Ctrl-C stops the service gracefully: /readyz fails, event streams end (clients reconnect
elsewhere with Last-Event-ID and lose nothing), requests in flight finish, running runs get the
grace period to end and are then cancelled, recording why. A second signal exits at once.

Settings come from flags, else the environment, else a JSON file (--config), else defaults:
  --agents MODULE    agent modules to serve, comma-separated or repeated (STATECRAFT_AGENTS)
  --port N           port (default 8080; 0 picks a free one) (STATECRAFT_PORT or PORT)
  --host ADDRESS     address to listen on (default 127.0.0.1) (STATECRAFT_HOST)
  --config FILE      a JSON file of these settings, by their names in the file: store, agents, host,
                     port, allowedOrigins, bodyLimitBytes, separationOfDuties, shutdownGraceMs,
                     authFailures {max, windowMs}, logLevel, trustProxy, limits, masterKeyFile,
                     inspector, metricsToken (STATECRAFT_SERVE_CONFIG)
  --allowed-origin ORIGIN  a browser origin allowed to call the API, e.g. https://app.example.com
                     (repeat for several; STATECRAFT_ALLOWED_ORIGINS, comma-separated); a request
                     from any other Origin is refused
  --body-limit BYTES largest request body accepted (default 1048576) (STATECRAFT_BODY_LIMIT)
  --separation-of-duties  the key that started a run cannot approve or reject its calls
                     (STATECRAFT_SEPARATION_OF_DUTIES=true)
  --shutdown-grace MS  how long running runs get to end when the service stops (default 10000)
  --log-level LEVEL  debug, info (default), warn or error (STATECRAFT_LOG_LEVEL)
  --trust-proxy      behind one reverse proxy: the client's address is the last X-Forwarded-For
                     entry (STATECRAFT_TRUST_PROXY=true); without it the header is ignored
  --master-key-file FILE  the master key that encrypts tenants' secrets (PUT /v1/secrets): a file of
                     mode 600, base64 of 32 bytes on its first line, previous keys on later lines
                     (STATECRAFT_MASTER_KEY_FILE); without it the key is read from STATECRAFT_MASTER_KEY,
                     previous keys from STATECRAFT_MASTER_KEY_PREVIOUS (comma-separated). Make one
                     with: openssl rand -base64 32. Without a key, setting a secret is refused (503).
The inspector is served at /inspector/ (sign in with an API key; each tenant sees its own runs);
STATECRAFT_INSPECTOR=false turns it off. GET /metrics (Prometheus text format, needs prom-client)
answers with STATECRAFT_METRICS_TOKEN set (or metricsToken in the file; at least 24 characters,
e.g. openssl rand -hex 24), sent as "Authorization: Bearer <token>"; API keys are not accepted there.
Limits, per tenant, shared by every instance on the store (none unless set; the file's "limits" may
also set them per tenant: {"limits": {"tokensPerMinute": 50000, "tenants": {"acme": {"usdPerDay": 20}}}}):
  --requests-per-minute N      requests of all a tenant's keys (STATECRAFT_REQUESTS_PER_MINUTE)
  --key-requests-per-minute N  requests of one key (STATECRAFT_KEY_REQUESTS_PER_MINUTE)
  --concurrent-runs N  runs a tenant may have running at once (STATECRAFT_CONCURRENT_RUNS)
  --tokens-per-minute N  model tokens a tenant's runs may use per minute (STATECRAFT_TOKENS_PER_MINUTE)
  --usd-per-day USD  model spend a tenant's runs may reach per day, UTC (STATECRAFT_USD_PER_DAY)
A request over a rate, or a run beyond the concurrent runs, is refused with 429 and Retry-After. A
model call that would pass a quota is not sent: its run fails, saying which quota and when it has
room again. GET /v1/usage tells a tenant what it used and has left.
${storeHelp}
                     (the API keys and tenants are kept in the same database; memory: is refused)

A client (an address; see --trust-proxy) that sends 10 missing or invalid keys within a minute is
refused (429, Retry-After) for the rest of that minute, and each refusal is logged.

Needs the packages hono, @hono/node-server, @hono/zod-openapi and rate-limiter-flexible
(npm install hono @hono/node-server @hono/zod-openapi rate-limiter-flexible).`,
  options: {
    agents: { type: 'string', multiple: true },
    port: { type: 'string' },
    host: { type: 'string' },
    config: { type: 'string' },
    'allowed-origin': { type: 'string', multiple: true },
    'body-limit': { type: 'string' },
    'separation-of-duties': { type: 'boolean' },
    'shutdown-grace': { type: 'string' },
    'log-level': { type: 'string' },
    'trust-proxy': { type: 'boolean' },
    'master-key-file': { type: 'string' },
    'requests-per-minute': { type: 'string' },
    'key-requests-per-minute': { type: 'string' },
    'concurrent-runs': { type: 'string' },
    'tokens-per-minute': { type: 'string' },
    'usd-per-day': { type: 'string' },
    ...storeOptions,
  },
  load: async () => (await import('../serveCommand.ts')).serve,
};
