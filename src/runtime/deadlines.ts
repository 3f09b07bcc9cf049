import type { AnyActorRef } from 'xstate';
import { timerAt } from '../delay.ts';
import type { Agent } from './defineAgent.ts';
import { agentDeadlines } from './waitingCalls.ts';

/**
 * The deadlines of a run's agents: its own, and those of the agents it invokes that were given one in
 * their input. Each agent still running when its deadline passes gets DEADLINE, while the run goes on.
 */
export class Deadlines {
  readonly #timers = new Map<AnyActorRef, { cancel(): void }>();
  readonly #live: () => boolean;

  constructor(live: () => boolean) {
    this.#live = live;
  }

  /** Arms the deadline of every agent of the run running now (at the start, or after a restore). */
  armAll(root: AnyActorRef, agent: Agent): void {
    for (const { actor, at } of agentDeadlines(root, agent)) this.arm(actor, at);
  }

  /** Arms one agent actor's deadline, once; none when `at` is undefined. */
  arm(actor: AnyActorRef, at: number | undefined): void {
    if (at === undefined || this.#timers.has(actor)) return;
    this.#timers.set(
      actor,
      timerAt(at, () => {
        if (this.#live() && (actor.getSnapshot() as { status?: string }).status === 'active') actor.send({ type: 'DEADLINE' });
      }),
    );
  }

  cancel(): void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
  }
}
