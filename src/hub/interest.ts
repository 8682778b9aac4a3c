/**
 * Per-redisChannel reference counts with linger, turned into batched broker EDGES (NATS
 * `RegisterNotification`): the first local subscriber queues a subscribe, the last one leaving
 * starts a linger timer whose expiry queues an unsubscribe. Reconnects and long-poll gaps
 * re-acquire within the linger, so Redis sees no churn.
 *
 * Edges are not emitted one by one: every change marks the channel dirty and one deferred
 * flush per turn compares "desired now" with "last edge emitted" for the dirty channels. So
 * acquire+release in one turn cancel out, and a burst becomes one subscribe list and one
 * unsubscribe list (one command each at the broker).
 *
 *   refcount>0 ──release→0──▶ lingering ──timer──▶ (absent) ⇒ unsubscribe edge at flush
 *        ▲                        │
 *        └────────acquire─────────┘  (no edge)
 *
 * A long-poll client releases and re-acquires its channel on every cycle, so the linger timer
 * is not cleared on acquire and armed on release each time (a timer per poll cycle): release
 * moves a deadline, and the one pending timer, when it fires, re-arms itself for whatever is
 * left of the latest deadline or drops the channel.
 *
 * No I/O and no clock: the scheduler is injected so tests drive linger deterministically.
 */

export interface Scheduler {
  /** Monotonic milliseconds. */
  clock(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Run fn once at the end of this turn (setImmediate in production). */
  defer(fn: () => void): void;
}

/**
 * `scheduler` with every callback made a boundary (STYLE C): a throw is handed to `onError`
 * (the hub logs it) instead of escaping a timer or immediate and ending the process.
 */
export function guardedScheduler(scheduler: Scheduler, onError: (err: unknown, what: string) => void): Scheduler {
  const guard = (what: string, fn: () => void) => (): void => {
    try {
      fn();
    } catch (err) {
      onError(err, what);
    }
  };
  return {
    clock: () => scheduler.clock(),
    setTimeout: (fn, ms) => scheduler.setTimeout(guard('timer', fn), ms),
    clearTimeout: (handle) => scheduler.clearTimeout(handle),
    defer: (fn) => scheduler.defer(guard('deferred', fn)),
  };
}

export const realScheduler: Scheduler = {
  clock: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  defer: (fn) => {
    setImmediate(fn);
  },
};

/** Receives the batched edges; implemented by the hub on top of Broker.subscribe/unsubscribe. */
export interface InterestEdges {
  subscribe(redisChannels: readonly string[]): void;
  unsubscribe(redisChannels: readonly string[]): void;
}

interface Entry {
  count: number;
  /** The pending linger timer, or null. It may date from an earlier zero: it re-reads lingerUntil. */
  linger: unknown;
  /** When the latest release to zero stops lingering (scheduler clock). */
  lingerUntil: number;
  /** When the pending linger timer fires. */
  timerAt: number;
}

export class InterestTracker {
  readonly #edges: InterestEdges;
  readonly #scheduler: Scheduler;
  /** Desired channels: count > 0 or lingering. Absent means not desired. */
  readonly #entries = new Map<string, Entry>();
  /** Channels whose last emitted edge was subscribe (what the broker was told to hold). */
  readonly #emitted = new Set<string>();
  /** Channels changed since the last flush. */
  readonly #dirty = new Set<string>();
  #flushQueued = false;
  #closed = false;

  constructor(edges: InterestEdges, scheduler: Scheduler) {
    this.#edges = edges;
    this.#scheduler = scheduler;
  }

  /** Reference count +1. The first one (not lingering) queues a subscribe edge. */
  acquire(redisChannel: string): void {
    if (this.#closed) return;
    const entry = this.#entries.get(redisChannel);
    if (entry === undefined) {
      this.#entries.set(redisChannel, { count: 1, linger: null, lingerUntil: 0, timerAt: 0 });
      this.#markDirty(redisChannel);
      return;
    }
    entry.count++;
  }

  /**
   * Reference count −1. At 0 the channel lingers for lingerMs, then queues an unsubscribe
   * edge; lingerMs 0 queues it for the next flush. Releasing an unheld channel is a no-op
   * (the hub's bookkeeping decides what it holds; a double release must not go negative).
   */
  release(redisChannel: string, lingerMs: number): void {
    if (this.#closed) return;
    const entry = this.#entries.get(redisChannel);
    if (entry === undefined || entry.count === 0) return;
    entry.count--;
    if (entry.count > 0) return;
    if (lingerMs <= 0) {
      if (entry.linger !== null) this.#scheduler.clearTimeout(entry.linger);
      this.#drop(redisChannel);
      return;
    }
    entry.lingerUntil = this.#scheduler.clock() + lingerMs;
    if (entry.linger !== null && entry.timerAt <= entry.lingerUntil) return;
    // None pending, or one due after this deadline (a reload shortened the linger).
    if (entry.linger !== null) this.#scheduler.clearTimeout(entry.linger);
    this.#armLinger(redisChannel, entry, lingerMs);
  }

  #armLinger(redisChannel: string, entry: Entry, ms: number): void {
    entry.timerAt = this.#scheduler.clock() + ms;
    entry.linger = this.#scheduler.setTimeout(() => {
      entry.linger = null;
      if (this.#entries.get(redisChannel) !== entry || entry.count > 0) return;
      const left = entry.lingerUntil - this.#scheduler.clock();
      if (left > 0) this.#armLinger(redisChannel, entry, left);
      else this.#drop(redisChannel);
    }, ms);
  }

  isDesired(redisChannel: string): boolean {
    return this.#entries.has(redisChannel);
  }

  /** The set the broker should hold now; read by the broker on every (re)subscribe. */
  desired(): Iterable<string> {
    return this.#entries.keys();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Cancels every linger timer and pending edge; later calls are ignored. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      if (entry.linger !== null) this.#scheduler.clearTimeout(entry.linger);
    }
    this.#entries.clear();
    this.#dirty.clear();
    this.#emitted.clear();
  }

  #drop(redisChannel: string): void {
    this.#entries.delete(redisChannel);
    this.#markDirty(redisChannel);
  }

  #markDirty(redisChannel: string): void {
    this.#dirty.add(redisChannel);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.#scheduler.defer(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#closed) return;
    const subscribe: string[] = [];
    const unsubscribe: string[] = [];
    for (const channel of this.#dirty) {
      const wanted = this.#entries.has(channel);
      if (wanted === this.#emitted.has(channel)) continue;
      if (wanted) {
        this.#emitted.add(channel);
        subscribe.push(channel);
      } else {
        this.#emitted.delete(channel);
        unsubscribe.push(channel);
      }
    }
    this.#dirty.clear();
    // Unsubscribe first: the lists are disjoint, and a broker that fails on one list must
    // still receive the other (try/finally), so the edge log never diverges from #emitted.
    try {
      if (unsubscribe.length > 0) this.#edges.unsubscribe(unsubscribe);
    } finally {
      if (subscribe.length > 0) this.#edges.subscribe(subscribe);
    }
  }
}
