import type { Logger } from '../log.js';
import { guarded } from './lifecycle/timers.js';

/**
 * Write batching per callback. Connections that got bytes during the current I/O callback (a
 * Redis read, a request handler) register once; one pass at its end (a microtask) flushes each
 * of them in one corked write. The kernel charges ~6–9 µs per write on loopback whatever the
 * size, so N messages arriving in one Redis read cost one write per connection instead of N.
 *
 * Not setImmediate, as it was: libuv's poll phase polls again, up to 48 rounds of 1,024
 * events, while events keep coming, and a check-phase pass waits for all of it. With 5,000
 * pollers answered in their handlers and each coming straight back, one poll phase ran 49,000
 * requests in 1.35 s, and the polls a message had reached waited that long for their answer
 * (bench/issue-15.md, thirteenth pass). A microtask runs when the callback that
 * delivered returns, inside that poll phase. Every caller runs in one that drains microtasks
 * when it returns: a socket or timer callback of Node's, a uWebSockets.js handler (checked:
 * before the next immediate, never inside a cork), or a promise continuation.
 *
 * Except behind WebSocket frames: see TopicDrain.
 */
export interface Flushable {
  /** Must clear the item's own "registered" flag first, so a throw cannot leave it stuck. */
  flush(): void;
}

/** One item of a pass: a throw is logged, so the pass goes on to the others. */
function flushGuarded(item: Flushable, log: Logger): void {
  try {
    item.flush();
  } catch (err) {
    log.error('flush failed', { err: err instanceof Error ? err : new Error(String(err)) });
  }
}

/**
 * Keeps SSE/NDJSON writes and poll answers behind the WebSocket frames of the same iteration.
 * uWebSockets.js writes topic frames (app.publish) in its own end-of-iteration drain, a check
 * handle that runs just before Node's immediates, and JavaScript cannot start that drain. A
 * microtask pass would write every stream and answer every poll of a Redis read first, so in a
 * mixed deployment each WebSocket frame waited for all of them (bench mixed row: WebSocket p50
 * 3.4–3.8 ms against Nchan's 0.8). While a topic publish waits for the drain, a pass waits too,
 * in one immediate after it: the cheapest writes (uWS's, in C++) go first, as in Nchan's order.
 * Without WebSocket traffic in the iteration nothing waits (the poll overload above).
 *
 * Not bounded, on purpose: a version that ran a pass from the next request handler once it had
 * waited 10 ms made an overloaded mixed deployment worse on every figure (answers written in
 * the poll phase bring their pollers straight back and keep it full; bench/issue-15.md,
 * fourteenth pass). Waiting for the drain holds those pollers until the check phase instead.
 *
 * One per process, as the loop is: the drain it models is the loop's.
 */
class TopicDrain {
  private marked = false;
  private waiting: FlushQueue[] = [];

  /** A topic publish happened: uWS writes its frames in this iteration's drain. */
  mark(): void {
    if (this.marked) return;
    this.marked = true;
    setImmediate(this.release);
  }

  /** Queues `queue`'s pass behind the drain; false when no drain is due (run it now). */
  defer(queue: FlushQueue): boolean {
    if (!this.marked) return false;
    this.waiting.push(queue);
    return true;
  }

  private readonly release = (): void => {
    this.marked = false;
    const queues = this.waiting;
    this.waiting = [];
    for (let i = 0; i < queues.length; i++) queues[i]!.pass();
  };
}

export const topicDrain = new TopicDrain();

export class FlushQueue {
  private dirty: Flushable[] = [];
  private scheduled = false;
  private flushedInPass = 0;
  /**
   * The pass's report, guarded: TopicDrain runs several queues' passes in a row, and one that
   * threw would leave the next queue scheduled and never run.
   */
  private readonly report: () => void;

  constructor(
    private readonly log: Logger,
    afterPass: (flushed: number) => void = () => {},
  ) {
    this.report = guarded(log, 'flush pass report', () => afterPass(this.flushedInPass));
  }

  add(item: Flushable): void {
    this.dirty.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.run);
    }
  }

  private readonly run = (): void => {
    // While waiting, `scheduled` stays set: what is added meanwhile goes in the same pass.
    if (!topicDrain.defer(this)) this.pass();
  };

  /**
   * The pass is a boundary (STYLE C): one item that throws is logged and the pass goes on,
   * so the others are written this turn and not left registered-but-never-flushed. It never
   * throws (see `report`).
   */
  pass(): void {
    this.scheduled = false;
    const items = this.dirty;
    this.dirty = [];
    for (let i = 0; i < items.length; i++) flushGuarded(items[i]!, this.log);
    this.flushedInPass = items.length;
    this.report();
  }
}

/** A Flushable that may wait: when its flush is due (set by whoever adds it). */
export interface Delayable extends Flushable {
  flushAtMs: number;
}

/** Timers fire on whole milliseconds: an item due within this much goes with the rest. */
const SLACK_MS = 1;

/**
 * Flushes held back until a time: the batch delay (docs/configuration.md, `batchDelay`). A
 * stream written less than its delay ago waits until the delay has passed since that write,
 * so a busy stream's messages go in fewer, larger writes; a quiet one never waits. One timer
 * serves every waiting item. An item's own bytes stay in order (they wait in its queue), and
 * whoever ends it flushes it first, so waiting changes when bytes go, never which or in
 * what order.
 */
export class DelayedFlushQueue {
  private waiting: Delayable[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly afterPass: (flushed: number) => void = () => {},
  ) {}

  get size(): number {
    return this.waiting.length;
  }

  add(item: Delayable, atMs: number): void {
    item.flushAtMs = atMs;
    this.waiting.push(item);
    if (atMs < this.timerAtMs) this.arm(atMs);
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAtMs = Infinity;
    this.waiting = [];
  }

  private arm(atMs: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(this.run, Math.max(0, atMs - this.now()));
  }

  /** A boundary like FlushQueue's pass: one item that throws is logged, the rest still go. */
  private readonly run = (): void => {
    this.timer = null;
    this.timerAtMs = Infinity;
    const due = this.now() + SLACK_MS;
    const items = this.waiting;
    this.waiting = [];
    let flushed = 0;
    let next = Infinity;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item.flushAtMs > due) {
        this.waiting.push(item);
        if (item.flushAtMs < next) next = item.flushAtMs;
        continue;
      }
      flushed++;
      flushGuarded(item, this.log);
    }
    if (next !== Infinity) this.arm(next);
    this.afterPass(flushed);
  };
}
