import type { RunStatus } from '../protocol/agent.ts';

/** Process exit code for each way a run can end; 2 is kept for usage and configuration errors. */
/** `released` (a run let go for another process to continue, as a draining worker does) is EX_TEMPFAIL: not ended, try again. */
export const exitCodes = { done: 0, failed: 1, usage: 2, halted: 3, waiting: 4, released: 75, cancelled: 130 } as const;

export const exitCodeOf = (status: RunStatus | 'waiting' | 'released'): number => exitCodes[status];
