/** Types of targets.mjs, for the TypeScript tests (only what they use). */
export interface FloorTarget {
  name: 'floor' | 'floor-batch' | 'uws-floor';
  port: number;
  /** Every process measured: one, or `workers` for the uWS floor. */
  pids(): number[];
  stop(): Promise<void>;
}
export function startFloor(opts: { redis: { port: number }; mode?: 'direct' | 'batch' | 'uws'; workers?: number }): Promise<FloorTarget>;
