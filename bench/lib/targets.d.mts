/** Types of targets.mjs, for the TypeScript tests (only what they use). */
export interface FloorTarget {
  name: 'floor' | 'floor-batch' | 'uws-floor';
  port: number;
  /** Every process measured: one, or `workers` for the uWS floor. */
  pids(): number[];
  stop(): Promise<void>;
}
export function startFloor(opts: { redis: { port: number }; mode?: 'direct' | 'batch' | 'uws'; workers?: number }): Promise<FloorTarget>;
/** Herald's YAML for a bench run; `batchDelay` defaults to HERALD_BENCH_BATCH_DELAY (unset: the rule's default). */
export function heraldConfig(redis: { url: string } | { cluster: true; seeds: string[] }, opts?: { durable?: boolean; batchDelay?: string }): string;
