/** Types of accounting.mjs, for the TypeScript unit tests. */
export interface Tally {
  last: number;
  count: number;
  gap: number;
  answerMsgs: number;
  resetMissed: number;
  resetOpen: boolean;
}
export function newTally(): Tally;
export function recordSeq(t: Tally, seq: number): boolean;
export function answerEnded(t: Tally, reset: boolean): void;
export function restartWindow(t: Tally): void;
export function classifyMissing(t: Tally, expected: number): { resets: number; late: number; lost: number };
