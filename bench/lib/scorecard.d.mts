/** Types for scorecard.mjs (the bench is plain ESM; tests import it from TypeScript). */
export type ScorecardRow = [
  row: string,
  measure: string,
  herald: number | string,
  nchan: number | string,
  ratio: number | null,
  target: string,
  met: boolean,
  floorRatio: number | null,
  floorMet: boolean | null,
  floorName: 'uWS floor' | 'coalescing floor' | null,
  /** p99 figures: (server + load generator CPU) ÷ (window × cores) of Herald's row. */
  machineShare: number | null,
  /** Every round's ratio in run order (msgs/write: Herald's value); one entry in a run of one round. */
  rounds: number[],
];
export const SATURATED_SHARE: number;
export function machineShare(result: object, cpus: number): number | null;
export function scorecardRows(results: readonly object[], cpus?: number): ScorecardRow[];
export function scorecardMarkdown(results: readonly object[], cpus?: number): string[];
