/** Types for ledger.mjs (the bench is plain ESM; tests import it from TypeScript). */
export type LedgerKind = 'met' | 'mostly met' | 'split' | 'floor misses too' | "Herald's own" | 'no floor';
export interface LedgerCell {
  ratio: number | null;
  met: boolean;
  floorRatio: number | null;
  floorMet: boolean | null;
}
export interface LedgerRow {
  figure: string;
  target: string;
  cells: (LedgerCell | null)[];
  heraldMet: number;
  runs: number;
  floorMet: number;
  floorRuns: number;
  kind: LedgerKind;
}
export function isLedgerRun(run: { meta?: { rounds?: number; quick?: boolean } }): boolean;
export function kindOf(heraldMet: number, runs: number, floorMet: number, floorRuns: number): LedgerKind;
export function ledgerRows(runs: readonly { name: string; meta?: object; results: readonly object[] }[]): LedgerRow[];
export function ledgerMarkdown(runs: readonly { name: string; meta?: object; results: readonly object[] }[]): string;
