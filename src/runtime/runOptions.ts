import { chainCredentials, type CredentialsProvider } from '../credentials/credentialsProvider.ts';
import type { Redactor } from '../credentials/Redactor.ts';
import { Secrets } from '../credentials/Secrets.ts';
import type { MachineEntry } from '../log/format/machineEntry.ts';
import { UserError } from '../errors.ts';
import type { RunHeader } from '../log/format/record.ts';
import type { RunStore } from '../log/stores/runStore.ts';
import type { AgentInput, RunIdentity } from '../protocol/agent.ts';
import type { Message } from '../protocol/messages.ts';
import type { ModelPort } from '../protocol/model.ts';
import type { Agent } from './defineAgent.ts';
import type { ModelLimits } from '../rateLimits/ModelLimits.ts';
import type { InspectOption } from './inspectObserver.ts';
import type { RunEvent } from './runEvents.ts';
import type { RunTelemetry } from '../telemetry/RunTelemetry.ts';
import type { TelemetryOptions } from '../telemetry/telemetryOptions.ts';

/** How a run is started (`startRun`, `runAgent`, `resumeRun`). */
export interface RunOptions {
  /** The user's message that starts the run. */
  input?: string;
  /** Messages placed before the input (a previous conversation). */
  history?: Message[];
  /**
   * The conversation thread the run continues (`runAgent`, `startThreadRun`; needs a `store`): it
   * starts from the messages the thread's last run ended with, and is recorded as the thread's next run.
   */
  thread?: string;
  /** Overrides the agent's model for this run. */
  model?: ModelPort | string;
  runId?: string;
  /** Where the run is recorded; without one the run lives in memory only. */
  store?: RunStore;
  /** Free-form labels kept in the run's header (for example the agent's module path). */
  labels?: Record<string, string>;
  /**
   * Who the run is for: its tenant, user and thread. Kept in the header's labels, so a resumed or
   * forked run keeps it; an agent's memory is kept and recalled by it.
   */
  identity?: RunIdentity;
  /** Aborting it cancels the run, like `run.cancel()`. */
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  /** See `BeforeModelCall`: a check run before each model request of the run and of the agents it invokes. */
  beforeModelCall?: BeforeModelCall;
  /**
   * Where this run's tools find secrets first, before the agent's own `credentials` (a host's secrets
   * for the run's tenant, say). The agent's grants and the tools' declarations apply as ever, and
   * every value read is redacted like the agent's own.
   */
  credentials?: CredentialsProvider;
  /**
   * Rate limits of model endpoints (`openModelLimits`), shared with every run and process given the
   * same limits: each model request of the run waits until its endpoint has room, and a 429 it gets
   * makes all of them wait. The wait is recorded with the model's answer (`waitedMs`).
   */
  modelLimits?: ModelLimits;
  /**
   * Asked just before each side effect starts (a tool call, a model request), once its start is on
   * record: false means this process no longer holds the run, and the effect is not started. A worker
   * answers by its lease, which may have run out while the process was frozen.
   */
  holds?: () => boolean;
  /**
   * Also send XState's inspection events here, as copies in which the secrets the run's tools read are
   * redacted as in the log. An observer that throws is reported once (a `StatecraftObserverWarning`)
   * and the run goes on. `createSkyInspector().inspect` from `@statelyai/inspect` sends every event,
   * with the conversation in it, to Stately's hosted service; see the README's "Inspector and diagrams".
   */
  inspect?: InspectOption;
  /**
   * With a store: each record is written within this many milliseconds of its transition (default
   * 20), so that records close together share a commit; at once when something waits for it (a model
   * request or a tool about to start, the run waiting or ending). A crash loses at most this window of
   * records, none of which an effect depended on, and resume repeats them. 0 writes on the next turn of
   * the event loop.
   */
  writeWithinMs?: number;
  /** With a store: which records also hold the run's full snapshot; see `KeyframeOptions`. */
  keyframes?: KeyframeOptions;
  /**
   * OpenTelemetry spans and metrics of the run, sent to the providers registered with
   * `@opentelemetry/api` (none registered: nothing is sent); `false` turns them off. See `TelemetryOptions`.
   */
  telemetry?: TelemetryOptions | false;
}

/** The model request about to be sent, as `beforeModelCall` sees it. */
export interface ModelCallInfo {
  runId: string;
  step: number;
  /** The invoked agent making it ('researcher', 'a/b'); absent for the run's own agent. */
  actor?: string;
  /** The model asked for. */
  model: string;
  /** The messages the request carries, after the context window cut them. */
  messages: readonly Message[];
}

/**
 * Called before each model request, once everything before it is on record. Throwing refuses the
 * request: nothing is sent, and the run fails with the thrown error as its reason (a host's quota,
 * for example). The run can be forked from its last record to continue later.
 */
export type BeforeModelCall = (call: ModelCallInfo) => void | Promise<void>;

/**
 * A keyframe is a record that also holds the run's full snapshot: exports and stores without a state
 * index read from the nearest one before a step. One is written when the run waits or ends, and once
 * the patches since the last one add up to `sizeRatio` times its size (default 4), which keeps storage
 * linear in the run's length.
 */
export interface KeyframeOptions {
  /** Also at least every this many records (no limit by default: snapshots grow with the run, so a fixed count makes storage quadratic). */
  every?: number;
  /** A keyframe once the patches since the last one add up to this multiple of its size (default 4). */
  sizeRatio?: number;
}

// `| undefined` on each: a decision is often built from a PendingCall, whose argsHash and actor may be absent.
export interface ApproveOptions {
  /** Who decides; recorded with the decision. */
  by?: string | undefined;
  /** Hash of the arguments the approver saw (`CallState.argsHash`); a mismatch refuses the decision. */
  argsHash?: string | undefined;
  /** Replacement arguments, validated against the tool's schema before the decision is recorded. */
  arguments?: string | Record<string, unknown> | undefined;
  /** Approve this tool for the rest of the run. */
  always?: boolean | undefined;
  /**
   * Which agent holds the call, as `pendingApprovals` lists it (`actor: 'researcher'`; '' for the run's
   * own agent). Needed only when agents the run invokes wait on calls with the same id.
   */
  actor?: string | undefined;
}

/** How a run begins: fresh from input, or restored from a recorded snapshot. */
export type RunStart = (
  | {
      kind: 'new';
      input: AgentInput;
      header?: RunHeader;
      machines?: MachineEntry[];
      /** The run is in the store already (submitted to the workers' queue). */
      created?: boolean;
    }
  | { kind: 'restore'; snapshot: unknown; lastSeq: number; notes: ({ type: string } & Record<string, unknown>)[] }
) & { telemetry?: RunTelemetry };

/** The recorder's keyframe settings from a run's options, refused when they are not positive numbers. */
export function keyframeSettings(keyframes: KeyframeOptions | undefined): { maxPatchesPerKeyframe?: number; keyframeRatio?: number } {
  const { every, sizeRatio } = keyframes ?? {};
  if (every !== undefined && !(Number.isInteger(every) && every > 0)) {
    throw new UserError(`keyframes.every must be a positive whole number of records, found ${String(every)}.`);
  }
  if (sizeRatio !== undefined && !(typeof sizeRatio === 'number' && sizeRatio > 0)) {
    throw new UserError(`keyframes.sizeRatio must be a positive number, found ${String(sizeRatio)}.`);
  }
  return { ...(every === undefined ? {} : { maxPatchesPerKeyframe: every - 1 }), ...(sizeRatio === undefined ? {} : { keyframeRatio: sizeRatio }) };
}

/** What hands secrets to the tools of a run: the run's credentials first, then the agent's; values registered with the run's redactor. */
export function runSecrets(agent: Agent, options: Pick<RunOptions, 'credentials'>, redactor: Redactor): Secrets {
  const provider = options.credentials ? chainCredentials(options.credentials, agent.credentials) : agent.credentials;
  return new Secrets({ provider, grants: agent.secrets, redactor });
}
