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

/** What the wheel keeps on each item: where it sits, so removal needs no lookup table. */
export interface Held {
  /** The slot it expires in; -1 when not held. */
  holdSlot: number;
  /** Its index in that slot's bucket. */
  holdIndex: number;
}

/**
 * Deadlines for many held requests without a timer each: items sit in a bucket per
 * `resolutionMs` slot of their deadline, and one tick (running only while something is
 * held) expires whole buckets. An item costs an array slot and two numbers of its own instead
 * of a Timeout, its closure and context (~230 B measured per held poll); removal on an early
 * answer is O(1) with no hashing (swap with the bucket's last item: a poll cycle adds and
 * removes one, and Set/Map entries keyed by object were ~1 µs of it in the profile).
 * An item expires at or after its deadline, at most `resolutionMs` late; the items of one
 * slot expire in the same tick.
 */
export class HoldWheel<T extends Held> {
  private readonly buckets = new Map<number, T[]>();
  private held = 0;
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
    return this.held;
  }

  add(item: T, holdMs: number): void {
    if (item.holdSlot !== -1) this.remove(item);
    const slot = Math.ceil((this.now() + holdMs) / this.resolutionMs);
    let bucket = this.buckets.get(slot);
    if (bucket === undefined) this.buckets.set(slot, (bucket = []));
    item.holdSlot = slot;
    item.holdIndex = bucket.length;
    bucket.push(item);
    this.held++;
    if (this.ticker === null) this.arm();
  }

  remove(item: T): void {
    const slot = item.holdSlot;
    if (slot === -1) return;
    item.holdSlot = -1;
    this.held--;
    // A bucket the tick is expiring is already out of the map; the tick skips removed items.
    const bucket = this.buckets.get(slot);
    if (bucket !== undefined && bucket[item.holdIndex] === item) {
      const last = bucket.pop()!;
      if (last !== item) {
        bucket[item.holdIndex] = last;
        last.holdIndex = item.holdIndex;
      }
      if (bucket.length === 0) this.buckets.delete(slot);
    }
    if (this.held === 0) this.stop();
  }

  stop(): void {
    if (this.ticker !== null) this.timers.clearTimeout(this.ticker);
    this.ticker = null;
  }

  private arm(): void {
    this.ticker = this.timers.setTimeout(() => {
      this.ticker = null;
      this.tickGuarded();
      if (this.held > 0 && this.ticker === null) this.arm();
    }, this.resolutionMs);
  }

  private tick(): void {
    const current = Math.floor(this.now() / this.resolutionMs);
    for (const [slot, bucket] of this.buckets) {
      if (slot > current) continue;
      this.buckets.delete(slot);
      for (let i = 0; i < bucket.length; i++) {
        const item = bucket[i]!;
        if (item.holdSlot !== slot) continue; // removed by an earlier expiry of this pass
        item.holdSlot = -1;
        this.held--;
        this.expire(item);
      }
    }
  }
}
