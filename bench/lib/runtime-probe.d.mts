/** Types of runtime-probe.mjs, for the TypeScript tests. */
export interface GcKind {
  count: number;
  s: number;
  over10ms: number;
  le10ms: number;
}
export interface RuntimeText {
  gc: Record<string, GcKind>;
  lag: { p99?: number; max?: number };
}
export interface RuntimeWindow {
  gc: Record<string, { count: number; ms: number }>;
  gcPauseMs: number;
  gcPausesOver10ms: number;
  loopDelayP99Ms: number | null;
  loopDelayMaxMs: number | null;
}
export function parseRuntime(text: string): RuntimeText;
export function runtimeProbe(port: number): Promise<{ end(): Promise<RuntimeWindow | null> }>;
export function primeRuntimeProbe(port: number, times?: number): Promise<void>;
