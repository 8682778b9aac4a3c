import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { ClientClassConfig } from '../config/types.js';
import { HeraldError } from '../errors.js';
import { readRequest, type RequestFacts } from '../http/request.js';
import { claimResponse, releaseResponse, statusLine } from '../http/server.js';
import type { Ready } from '../hub/hub.js';
import type { PreparedMessage } from '../hub/message.js';
import { parsePosition, type Position } from '../hub/position.js';
import type { ResetReason, Subscriber } from '../hub/subscriber.js';
import type { Route } from '../rules/router.js';
import type { AuthResult } from './authorize.js';
import { unsentAfterWrite } from './backpressure.js';
import type { ChannelRouter } from './channels.js';
import { ClassCounts } from './class-counts.js';
import type { TransportContext } from './context.js';
import { FlushQueue, type Flushable } from './flush.js';
import type { StreamFormat } from './stream-format.js';
import type { CloseReason } from './stats.js';
import { admitRequest } from './admission.js';

const TICK_MS = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

class StreamConnection implements Subscriber, Flushable {
  open = true;
  /** Messages and resets gathered until every channel is live, then written sorted by seq. */
  initial: PreparedMessage[] | null = [];
  private initialResets: { channel: string; reason: ResetReason }[] | null = null;
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
  /** Ends the stream at token expiry to the millisecond; the 1 s ticker would be up to 1 s late. */
  expiryTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly owner: StreamTransport,
    readonly res: HttpResponse,
    /** Only what outlives the handshake is kept: an idle stream should cost bytes, not kilobytes. */
    readonly ip: string,
    readonly origin: string,
    readonly routes: readonly Route[],
    readonly cls: ClientClassConfig,
    /** When the stream ends on its own, and why (lifetime or token expiry). */
    readonly deadlineMs: number,
    readonly deadlineReason: CloseReason,
    readonly maxUnsent: number,
    nowMs: number,
  ) {
    this.waiting = routes.length;
    this.lastWriteMs = Math.floor(nowMs);
  }

  get transport(): 'sse' | 'ndjson' {
    return this.owner.format.transport;
  }

  deliver(message: PreparedMessage): void {
    if (!this.open) return;
    if (this.initial !== null) {
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
    if (!this.dirty) {
      this.dirty = true;
      this.owner.flushes.add(this);
    }
  }

  onReady(route: Route, ready: Ready): void {
    if (!this.open || this.initial === null) return;
    for (const m of ready.replay) this.initial.push(m);
    if (ready.reset !== null) (this.initialResets ??= []).push({ channel: route.channel, reason: ready.reset });
    if (--this.waiting === 0) this.owner.begin(this);
  }

  /** The first bytes: retry hint, replays in seq order, then resets positioned at the head. */
  takeInitial(retryMs: number, head: string): string | Buffer {
    const initial = this.initial ?? [];
    this.initial = null;
    initial.sort((a, b) => a.seq - b.seq);
    const format = this.owner.format;
    const parts: (string | Buffer)[] = [format.start(retryMs)];
    for (const m of initial) parts.push(format.message(m));
    for (const r of this.initialResets ?? []) parts.push(format.control('reset', head, JSON.stringify(r)));
    this.initialResets = null;
    this.owner.deliveredInPass += initial.length;
    return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  }

  flush(): void {
    this.dirty = false;
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
    this.lastWriteMs = Math.floor(this.owner.now());
    this.unsent = unsentAfterWrite(this.unsent, bytes, accepted);
    if (this.unsent > this.maxUnsent) this.owner.dropSlow(this);
  }
}

let corking: StreamConnection | null = null;

function writeCorked(): void {
  const conn = corking!;
  corking = null;
  conn.writeQueued();
}

/**
 * GET /sse (text/event-stream) and GET /stream (NDJSON): one long-lived HTTP stream per
 * connection, any number of channels (up to the limit); the StreamFormat decides the bytes.
 * Lifecycle: validate → authorize → subscribe every channel → once all are live, write the
 * headers, `retry:`, the replay and resets in one corked write → live messages batched per
 * turn → ends at the class lifetime (or token expiry) so the client resumes with Last-Event-ID.
 */
export class StreamTransport {
  readonly flushes: FlushQueue;
  deliveredInPass = 0;
  private readonly connections = new Set<StreamConnection>();
  private readonly perClass = new ClassCounts();
  private readonly ticker: NodeJS.Timeout;
  private draining = false;

  constructor(
    private readonly ctx: TransportContext,
    readonly now: () => number,
    readonly format: StreamFormat,
  ) {
    this.flushes = new FlushQueue(() => {
      if (this.deliveredInPass > 0) {
        this.ctx.stats.delivered(this.format.transport, this.deliveredInPass);
        this.deliveredInPass = 0;
      }
    });
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  countsByClass(): ReadonlyMap<string, number> {
    return this.perClass.byClass;
  }

  readonly handle = (res: HttpResponse, req: HttpRequest): void | Promise<void> => {
    const facts = readRequest(res, req, this.ctx.trustedIpHeader);
    if (this.draining) return this.sendElsewhere(res, facts.origin);
    return admitRequest(this.ctx, res, facts, (routes, auth) => this.accept(res, facts, routes, auth));
  };

  private accept(res: HttpResponse, facts: RequestFacts, routes: readonly Route[], auth: AuthResult): void {
    const ctx = this.ctx;
    const cls = ctx.classifier.classify(facts.query.get(ctx.classifier.param) ?? '', facts.userAgent);
    const now = this.now();
    // ±10% jitter so streams opened together do not all reconnect together.
    const lifetimeEnd = now + cls.lifetimeMs * (0.9 + Math.random() * 0.2);
    const tokenEnd = now + (auth.expiresAtMs - Date.now());
    const conn = new StreamConnection(
      this, res, facts.ip, facts.origin, routes, cls,
      Math.floor(Math.min(lifetimeEnd, tokenEnd)), tokenEnd < lifetimeEnd ? 'token_expired' : 'lifetime',
      ctx.limits.maxBufferedBytes, now,
    );
    claimResponse(res);
    // A bound function, not a closure: no per-stream context object (measured ~60 B less).
    res.onAborted(this.aborted.bind(this, conn));
    this.connections.add(conn);
    // Past setTimeout's 2^31-1 ms range Node fires at once: leave such far expiries to the ticker.
    if (conn.deadlineReason === 'token_expired' && tokenEnd - now < MAX_TIMER_MS) {
      conn.expiryTimer = setTimeout(() => this.guarded(() => this.reachedDeadline(conn)), Math.max(0, tokenEnd - now));
      conn.expiryTimer.unref();
    }
    this.perClass.add(cls.name);
    ctx.stats.connectionOpened(this.format.transport, cls.name);
    const since = this.since(facts);
    for (const route of routes) ctx.hub.subscribe(conn, route, since, (ready) => conn.onReady(route, ready));
  }

  private since(facts: RequestFacts): Position | null {
    const text = facts.lastEventId !== '' ? facts.lastEventId : (facts.query.get('lastEventId') ?? '');
    if (text === '') return null;
    // An invalid Last-Event-ID still opens the stream; each channel then gets a reset.
    return parsePosition(text);
  }

  /**
   * A request that reaches a draining process (a keep-alive connection opened before the
   * drain): no error status, which EventSource would treat as fatal, but a stream that tells
   * the client to reconnect at once, over a new connection that lands on another process.
   */
  private sendElsewhere(res: HttpResponse, origin: string): void {
    res.writeStatus(statusLine(200));
    for (const [k, v] of this.format.headers) res.writeHeader(k, v);
    for (const [k, v] of this.ctx.cors.headers(origin)) res.writeHeader(k, v);
    res.end(this.format.start(500) + this.format.control('reconnect', '', '{"reason":"draining"}'), true);
  }

  /** Every channel is live: write the head of the stream. */
  begin(conn: StreamConnection): void {
    const body = conn.takeInitial(this.ctx.sse.retryMs, this.ctx.hub.head(conn.routes));
    conn.res.cork(() => {
      conn.res.writeStatus(statusLine(200));
      for (const [k, v] of this.format.headers) conn.res.writeHeader(k, v);
      for (const [k, v] of this.ctx.cors.headers(conn.origin)) conn.res.writeHeader(k, v);
      const accepted = conn.res.write(body);
      conn.wrote(body.length, accepted);
    });
  }

  dropSlow(conn: StreamConnection): void {
    if (!conn.open) return;
    this.ctx.stats.slowConsumerDrop(this.format.transport);
    // close() rather than end(): the buffer is already past the bound, adding a terminator
    // would only grow it. The client sees a cut stream and resumes with Last-Event-ID.
    this.closed(conn, 'slow_consumer');
    conn.res.close();
  }

  /** Ends a stream gracefully with a final chunk; the client reconnects and resumes. */
  end(conn: StreamConnection, reason: CloseReason, finalChunk: string): void {
    if (!conn.open) return;
    conn.flush();
    // That flush may have passed the unsent bound and closed the response already.
    if (!conn.open) return;
    this.closed(conn, reason);
    conn.res.cork(() => {
      if (conn.initial !== null) {
        // Never started (a channel was not live yet): answer plainly so the client retries.
        conn.res.writeStatus(statusLine(200));
        for (const [k, v] of this.format.headers) conn.res.writeHeader(k, v);
        for (const [k, v] of this.ctx.cors.headers(conn.origin)) conn.res.writeHeader(k, v);
      }
      conn.res.end(finalChunk);
    });
  }

  private aborted(conn: StreamConnection): void {
    this.closed(conn, 'client');
  }

  private closed(conn: StreamConnection, reason: CloseReason): void {
    if (!conn.open) return;
    conn.open = false;
    if (conn.expiryTimer !== null) clearTimeout(conn.expiryTimer);
    releaseResponse(conn.res);
    this.connections.delete(conn);
    this.perClass.remove(conn.cls.name);
    for (const route of conn.routes) this.ctx.hub.unsubscribe(conn, route);
    this.ctx.limiter.release(conn.ip);
    this.ctx.stats.connectionClosed(this.format.transport, reason);
  }

  private tick(): void {
    const now = this.now();
    for (const conn of this.connections) {
      if (now >= conn.deadlineMs) {
        this.reachedDeadline(conn);
      } else if (conn.initial === null && now - conn.lastWriteMs >= conn.cls.heartbeatMs) {
        conn.enqueue(this.format.heartbeat);
      }
    }
  }

  private reachedDeadline(conn: StreamConnection): void {
    const final =
      conn.deadlineReason === 'token_expired'
        ? this.format.control('stream-error', '', JSON.stringify({ code: 'token_expired', message: new HeraldError('token_expired').message }))
        : this.format.lifetimeEnd;
    this.end(conn, conn.deadlineReason, final);
  }

  /** Timer callbacks are a boundary (STYLE C): a throw is logged, the process keeps serving. */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.log.error('stream timer failed', { err: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  /**
   * Drain: every stream gets a short retry hint and a `reconnect` event, then ends; the ends
   * are spread evenly over `windowMs` so the remaining processes are not hit all at once.
   * Resolves when all streams are gone.
   */
  drain(windowMs: number): Promise<void> {
    this.draining = true;
    const conns = [...this.connections];
    const step = conns.length > 1 ? windowMs / conns.length : 0;
    return new Promise((resolve) => {
      if (conns.length === 0) {
        resolve();
        return;
      }
      let done = 0;
      conns.forEach((conn, i) => {
        const t = setTimeout(() => {
          this.end(conn, 'drain', this.format.start(500) + this.format.control('reconnect', '', '{"reason":"draining"}'));
          if (++done === conns.length) resolve();
        }, i * step);
        t.unref();
      });
    });
  }

  /**
   * After a config reload: a stream whose channels the new rules no longer route the same
   * way ends with an `error` event naming the channel; the client reconnects and is told why.
   */
  revalidate(router: ChannelRouter): number {
    let ended = 0;
    for (const conn of [...this.connections]) {
      for (const route of conn.routes) {
        const next = router.route(route.channel);
        if (next instanceof HeraldError || next.redisChannel !== route.redisChannel) {
          const code = next instanceof HeraldError ? next.code : 'channel_denied';
          this.end(conn, 'policy', this.format.control('stream-error', '', JSON.stringify({ code, channel: route.channel })));
          ended++;
          break;
        }
      }
    }
    return ended;
  }

  close(): void {
    clearInterval(this.ticker);
  }
}
