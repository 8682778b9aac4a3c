import type { Logger } from '../log.js';
import { guarded } from './lifecycle/timers.js';

/** The two timer calls the wheel makes; tests pass a fake (test/helpers/fake-scheduler.ts). */
export interface WheelTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real timers, unref'd: a held poll must never keep a stopping daemon alive. */
const REAL_TIMERS: WheelTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Deadlines for many held requests without a timer each: items sit in a bucket per
 * `resolutionMs` slot of their deadline, and one tick (running only while something is
 * held) expires whole buckets. An item costs one Set entry instead of a Timeout, its closure
 * and context (~230 B measured per held poll); removal on an early answer is O(1).
 * An item expires at or after its deadline, at most `resolutionMs` late; the items of one
 * slot expire in the same tick.
 */
export class HoldWheel<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly slotOf = new Map<T, number>();
  private ticker: unknown = null;
  private readonly tickGuarded: () => void;

  constructor(
    private readonly now: () => number,
    private readonly expire: (item: T) => void,
    log: Logger,
    private readonly resolutionMs = 100,
    private readonly timers: WheelTimers = REAL_TIMERS,
  ) {
    this.tickGuarded = guarded(log, 'hold wheel tick', () => this.tick());
  }

  get size(): number {
    return this.slotOf.size;
  }

  add(item: T, holdMs: number): void {
    const slot = Math.ceil((this.now() + holdMs) / this.resolutionMs);
    let bucket = this.buckets.get(slot);
    if (bucket === undefined) this.buckets.set(slot, (bucket = new Set()));
    bucket.add(item);
    this.slotOf.set(item, slot);
    if (this.ticker === null) this.arm();
  }

  remove(item: T): void {
    const slot = this.slotOf.get(item);
    if (slot === undefined) return;
    this.slotOf.delete(item);
    const bucket = this.buckets.get(slot)!;
    bucket.delete(item);
    if (bucket.size === 0) this.buckets.delete(slot);
    if (this.slotOf.size === 0) this.stop();
  }

  stop(): void {
    if (this.ticker !== null) this.timers.clearTimeout(this.ticker);
    this.ticker = null;
  }

  private arm(): void {
    this.ticker = this.timers.setTimeout(() => {
      this.ticker = null;
      this.tickGuarded();
      if (this.slotOf.size > 0 && this.ticker === null) this.arm();
    }, this.resolutionMs);
  }

  private tick(): void {
    const current = Math.floor(this.now() / this.resolutionMs);
    for (const [slot, bucket] of this.buckets) {
      if (slot > current) continue;
      for (const item of bucket) {
        this.remove(item);
        this.expire(item);
      }
    }
  }
}
