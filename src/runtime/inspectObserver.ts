import type { ActorRefLike, AnyActorRef, InspectionEvent, Observer } from 'xstate';
import type { Redactor } from '../credentials/Redactor.ts';
import type { RunEvent } from './runEvents.ts';

/** What `inspect` in the run options accepts: an observer of XState's inspection events, or its `next`. */
export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

const messageOf = (error: unknown) => (error instanceof Error ? error.message || error.name : String(error));

/**
 * The run's `inspect` observer as XState calls it: each event reaches the observer as a copy that
 * carries what the log would (secrets the run's tools read replaced, also in snapshots read later
 * through its actor references), and an observer that throws is reported once as a process warning
 * while the run goes on. Undefined when no observer is given, so that a run without one pays nothing.
 */
export function inspectObserver(runId: string, inspect: InspectOption | undefined, redactor: Redactor): ((event: InspectionEvent) => void) | undefined {
  if (!inspect) return undefined;
  const next = typeof inspect === 'function' ? inspect : (event: InspectionEvent) => inspect.next?.(event);
  const view = new RedactedInspection(redactor);
  let reported = false;
  const report = (type: string, error: unknown) => {
    if (reported) return;
    reported = true;
    process.emitWarning(
      `The inspect observer of run ${runId} threw on its '${type}' event: ${redactor.redactString(messageOf(error))}. ` +
        'The run goes on and the observer still receives events; its later errors are not reported. Fix the observer.',
      'StatecraftObserverWarning',
    );
  };
  return (event) => {
    // A watcher's bug is the watcher's, not the run's: XState would fail the run (or its creation,
    // on the first event) with it, and a rejected promise nobody handles would end the process.
    try {
      const returned: unknown = next(view.event(event));
      if (isThenable(returned)) returned.then(undefined, (error: unknown) => report(event.type, error));
    } catch (error) {
      report(event.type, error);
    }
  };
}

/**
 * Gives `event` to each listener of a run. A listener's bug is the watcher's, not the run's: what it
 * throws, or the promise it returns rejects with, is reported as a process warning and the run goes on.
 */
export function notifyListeners(runId: string, listeners: Iterable<(event: RunEvent) => void>, event: RunEvent): void {
  for (const listener of listeners) {
    try {
      const returned: unknown = listener(event);
      if (isThenable(returned)) returned.then(undefined, (error: unknown) => listenerFailed(runId, event.type, error));
    } catch (error) {
      listenerFailed(runId, event.type, error);
    }
  }
}

function listenerFailed(runId: string, type: string, error: unknown): void {
  process.emitWarning(`A listener of run ${runId} threw on its '${type}' event: ${messageOf(error)}. The run goes on; fix the listener.`, 'StatecraftListenerWarning');
}

/** Whether a watcher's return value is a promise, whose rejection must be handled (unhandled, it would end the process). */
const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

const isActorRef = (value: object): value is AnyActorRef =>
  typeof (value as Partial<AnyActorRef>).sessionId === 'string' &&
  typeof (value as Partial<AnyActorRef>).send === 'function' &&
  typeof (value as Partial<AnyActorRef>).getSnapshot === 'function';

const isPlain = (value: object) => {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
};

/** Copies of inspection events with every string redacted and every actor reference replaced by a redacting view of it. */
class RedactedInspection {
  readonly #redactor: Redactor;
  readonly #refs = new WeakMap<object, ActorRefLike>();

  constructor(redactor: Redactor) {
    this.#redactor = redactor;
  }

  event(event: InspectionEvent): InspectionEvent {
    const copy: Record<string, unknown> = { ...event, actorRef: this.ref(event.actorRef) };
    if ('sourceRef' in event && event.sourceRef) copy.sourceRef = this.ref(event.sourceRef);
    if ('event' in event) copy.event = this.data(event.event);
    if ('snapshot' in event) copy.snapshot = this.snapshot(event.snapshot);
    if (event.type === '@xstate.action') copy.action = { ...event.action, params: this.data(event.action.params) };
    return copy as unknown as InspectionEvent;
  }

  /** A snapshot's copy: its data redacted, its children seen through views; its methods still work (they read `this`). */
  snapshot(snapshot: unknown): unknown {
    if (typeof snapshot !== 'object' || snapshot === null) return snapshot;
    const copy = { ...snapshot } as Record<string, unknown>;
    for (const key of ['context', 'output', 'error', 'input']) if (key in copy) copy[key] = this.data(copy[key]);
    const children = copy.children;
    if (typeof children === 'object' && children !== null) {
      copy.children = Object.fromEntries(
        Object.entries(children).map(([id, child]) => [id, typeof child === 'object' && child !== null && isActorRef(child) ? this.ref(child) : child]),
      );
    }
    return copy;
  }

  /**
   * A stand-in for an actor reference: the same ids and definition, `send` passed on, and
   * `getSnapshot()` redacted when it is called (observers such as `@statelyai/inspect` read it later).
   */
  ref(ref: ActorRefLike): ActorRefLike {
    const known = this.#refs.get(ref);
    if (known) return known;
    const real = ref as AnyActorRef;
    const view = this;
    const standIn = {
      id: real.id,
      sessionId: real.sessionId,
      src: real.src,
      logic: (real as unknown as { logic?: unknown }).logic,
      get _parent() {
        return real._parent ? view.ref(real._parent) : undefined;
      },
      getSnapshot: () => view.snapshot(real.getSnapshot()),
      send: (event: Parameters<AnyActorRef['send']>[0]) => real.send(event),
      toJSON: () => ({ xstate$$type: 1, id: real.id }),
    } as unknown as ActorRefLike;
    this.#refs.set(ref, standIn);
    return standIn;
  }

  /** Plain data (objects, arrays, strings, errors) with every string and key redacted; other objects are kept as they are. */
  data(value: unknown, ancestors: object[] = []): unknown {
    if (typeof value === 'string') return this.#redactor.redactString(value);
    if (typeof value !== 'object' || value === null) return value;
    if (value instanceof Error) return this.#redactor.size ? this.#redactor.redactError(value) : value;
    if (isActorRef(value)) return this.ref(value);
    const array = Array.isArray(value);
    if (!array && !isPlain(value)) return value;
    if (ancestors.includes(value)) return '[circular]';
    ancestors.push(value);
    try {
      if (array) {
        let copy: unknown[] | undefined;
        for (let i = 0; i < value.length; i++) {
          const item = this.data(value[i], ancestors);
          if (item !== value[i]) (copy ??= value.slice())[i] = item;
        }
        return copy ?? value;
      }
      let copy: Record<string, unknown> | undefined;
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const name = this.#redactor.redactString(key);
        const item = this.data(record[key], ancestors);
        if (name === key && item === record[key]) continue;
        copy ??= Object.fromEntries(Object.entries(record));
        if (name !== key) delete copy[key];
        // defineProperty, not assignment: a key named "__proto__" must stay a plain data property.
        Object.defineProperty(copy, name, { value: item, enumerable: true, writable: true, configurable: true });
      }
      return copy ?? value;
    } finally {
      ancestors.pop();
    }
  }
}
