/**
 * Deadlines for many held requests without a timer each: items sit in a bucket per
 * `resolutionMs` slot of their deadline, and one interval (running only while something is
 * held) expires whole buckets. An item costs one Set entry instead of a Timeout, its closure
 * and context (~230 B measured per held poll); removal on an early answer is O(1).
 * An item expires at or after its deadline, at most `resolutionMs` late.
 */
export class HoldWheel<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly slotOf = new Map<T, number>();
  private ticker: NodeJS.Timeout | null = null;

  constructor(
    private readonly now: () => number,
    private readonly expire: (item: T) => void,
    private readonly resolutionMs = 100,
  ) {}

  get size(): number {
    return this.slotOf.size;
  }

  add(item: T, holdMs: number): void {
    const slot = Math.ceil((this.now() + holdMs) / this.resolutionMs);
    let bucket = this.buckets.get(slot);
    if (bucket === undefined) this.buckets.set(slot, (bucket = new Set()));
    bucket.add(item);
    this.slotOf.set(item, slot);
    if (this.ticker === null) {
      this.ticker = setInterval(() => this.tick(), this.resolutionMs);
      this.ticker.unref();
    }
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
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
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
