import type { HttpResponse } from 'uWebSockets.js';
import type { ClientClassConfig } from '../config/types.js';
import type { Ready } from '../hub/hub.js';
import type { PreparedMessage } from '../hub/message.js';
import { Listed, type ResetReason, type Subscriber } from '../hub/subscriber.js';
import type { Route } from '../rules/router.js';
import { unsentAfterWrite } from './backpressure.js';
import type { Delayable } from './flush.js';
import type { Deadline, Session } from './lifecycle/lifecycle.js';
import { sortByPosition } from './lifecycle/resume.js';
import type { StreamFormat } from './stream-format.js';

/**
 * Per queued message before a stream starts, on top of its payload: its id and framing.
 * Counting it bounds a flood of empty messages as well as a few large ones.
 */
export const PRE_LIVE_OVERHEAD_BYTES = 64;

/** What a stream connection calls back into (StreamTransport implements it). */
export interface StreamOwner {
  readonly format: StreamFormat;
  /** Registers a stream with bytes to write: flushed this turn, or when its batch delay is due. */
  schedule(conn: StreamConnection): void;
  deliveredInPass: number;
  /** The clock (ms), read once per synchronous run: a fan-out writes thousands of streams at one instant. */
  turnNow(): number;
  begin(conn: StreamConnection): void;
  dropSlow(conn: StreamConnection): void;
}

/**
 * One SSE or NDJSON stream: the hub's subscriber for each of its channels. Bytes are queued
 * and written in one corked write by the owner's flush pass: this turn's, or, when the last
 * write is more recent than the stream's batch delay, the delayed pass once it has passed.
 */
export class StreamConnection extends Listed implements Subscriber, Session, Delayable {
  open = true;
  sessionSlot = -1;
  /** Messages and resets gathered until every channel is live, then written sorted by seq. */
  initial: PreparedMessage[] | null = [];
  private initialResets: { channel: string; reason: ResetReason }[] | null = null;
  /**
   * Live messages queued while another channel is not live yet, in bytes (payload plus
   * PRE_LIVE_OVERHEAD_BYTES each). Like Mercure's liveQueue the queue is bounded: past the
   * connection's unsent bound the stream is dropped as a slow consumer (at the next flush,
   * not inside the hub's fan-out), and the client resumes with Last-Event-ID. -1 once past
   * it (one field, not two: an idle stream should cost bytes).
   */
  private initialBytes = 0;
  private waiting: number;
  /** Bytes waiting for this turn's flush; null when none (most idle streams, most of the time). */
  queue: (Buffer | string)[] | null = null;
  private dirty = false;
  /**
   * Whole milliseconds (performance.now() floored): small integers are stored in the object
   * itself, a fractional time would box a heap number per field per stream.
   */
  lastWriteMs: number;
  /** Bytes uWS may still hold for this stream (see backpressure.ts). */
  unsent = 0;
  /** The shortest `batchDelay` of its channels' rules: a write this recent holds the next one back. */
  readonly batchDelayMs: number;
  /** When a held-back flush is due (DelayedFlushQueue). */
  flushAtMs = 0;
  readonly deadlineMs: number;
  readonly deadlineReason: Deadline['reason'];
  /** Ends the stream at token expiry to the millisecond; the 1 s ticker would be up to 1 s late. */
  expiryTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly owner: StreamOwner,
    readonly res: HttpResponse,
    /** Only what outlives the handshake is kept: an idle stream should cost bytes, not kilobytes. */
    readonly ip: string,
    readonly origin: string,
    readonly routes: readonly Route[],
    readonly cls: ClientClassConfig,
    /** When the stream ends on its own, and why (lifetime or token expiry). */
    deadline: Deadline,
    readonly maxUnsent: number,
    nowMs: number,
  ) {
    super();
    // Two in-object fields rather than a reference to the Deadline: no extra object per stream.
    this.deadlineMs = deadline.atMs;
    this.deadlineReason = deadline.reason;
    this.waiting = routes.length;
    this.lastWriteMs = Math.floor(nowMs);
    this.batchDelayMs = shortestBatchDelay(routes);
  }

  get transport(): 'sse' | 'ndjson' {
    return this.owner.format.transport;
  }

  deliver(message: PreparedMessage): void {
    if (!this.open || this.initialBytes < 0) return;
    if (this.initial !== null) {
      this.initialBytes += message.byteLength + PRE_LIVE_OVERHEAD_BYTES;
      if (this.initialBytes > this.maxUnsent) return this.overflow();
      this.initial.push(message);
      return;
    }
    this.enqueue(this.owner.format.message(message));
    this.owner.deliveredInPass++;
  }

  reset(channel: string, reason: ResetReason, position: string): void {
    if (!this.open) return;
    if (this.initial !== null) {
      (this.initialResets ??= []).push({ channel, reason });
      return;
    }
    this.enqueue(this.owner.format.control('reset', position, JSON.stringify({ channel, reason })));
  }

  enqueue(chunk: Buffer | string): void {
    if (this.queue === null) this.queue = [chunk];
    else this.queue.push(chunk);
    this.markDirty();
  }

  private markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.owner.schedule(this);
  }

  /** The pre-live queue passed its bound: free it now, drop the stream at the flush. */
  private overflow(): void {
    this.initialBytes = -1;
    this.initial = [];
    this.markDirty();
  }

  onReady(route: Route, ready: Ready): void {
    if (!this.open || this.initial === null || this.initialBytes < 0) return;
    for (const m of ready.replay) this.initial.push(m);
    if (ready.reset !== null) (this.initialResets ??= []).push({ channel: route.channel, reason: ready.reset });
    if (--this.waiting === 0) this.owner.begin(this);
  }

  /**
   * The first bytes: retry hint, replays in seq order, resets positioned at the head, then one
   * `subscribed` per channel carrying the head. That last position is what a client resumes
   * from when the stream ends before its first message (a token or lifetime end, a drain, a
   * dropped connection): without it, a fresh stream's reconnect had no position and started at
   * the new head, and whatever was published in between was lost without a reset.
   */
  takeInitial(retryMs: number, head: string): string | Buffer {
    const initial = this.initial ?? [];
    this.initial = null;
    sortByPosition(initial);
    const format = this.owner.format;
    const parts: (string | Buffer)[] = [format.start(retryMs)];
    for (const m of initial) parts.push(format.message(m));
    for (const r of this.initialResets ?? []) parts.push(format.control('reset', head, JSON.stringify(r)));
    this.initialResets = null;
    for (const route of this.routes) parts.push(format.control('subscribed', head, JSON.stringify({ channel: route.channel })));
    this.owner.deliveredInPass += initial.length;
    // A stream with nothing to replay starts with strings only: one string, no copy into a Buffer.
    if (initial.length === 0) return (parts as string[]).join('');
    return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  }

  flush(): void {
    this.dirty = false;
    if (this.initialBytes < 0) return this.owner.dropSlow(this);
    if (!this.open || this.queue === null) return;
    // cork() runs its callback synchronously: one shared function instead of a closure per stream.
    corking = this;
    this.res.cork(writeCorked);
  }

  writeQueued(): void {
    const q = this.queue!;
    this.queue = null;
    const chunk = q.length === 1 ? q[0]! : Buffer.concat(q.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    const accepted = this.res.write(chunk);
    this.wrote(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length, accepted);
  }

  /** Books one write; drops the stream when uWS holds more than the bound for it. */
  wrote(bytes: number, accepted: boolean): void {
    this.lastWriteMs = Math.floor(this.owner.turnNow());
    this.unsent = unsentAfterWrite(this.unsent, bytes, accepted);
    if (this.unsent > this.maxUnsent) this.owner.dropSlow(this);
  }
}

function shortestBatchDelay(routes: readonly Route[]): number {
  let ms = Infinity;
  for (const route of routes) ms = Math.min(ms, route.rule.batchDelayMs);
  return ms === Infinity ? 0 : ms;
}

let corking: StreamConnection | null = null;

function writeCorked(): void {
  const conn = corking!;
  corking = null;
  conn.writeQueued();
}
