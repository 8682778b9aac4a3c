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
];
export function scorecardRows(results: readonly object[]): ScorecardRow[];
export function scorecardMarkdown(results: readonly object[]): string[];
