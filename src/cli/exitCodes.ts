import type { RunStatus } from '../protocol/agent.ts';

/** Process exit code for each way a run can end; 2 is kept for usage and configuration errors. */
export const exitCodes = { done: 0, failed: 1, usage: 2, halted: 3, waiting: 4, cancelled: 130 } as const;

export const exitCodeOf = (status: RunStatus | 'waiting'): number => exitCodes[status];
