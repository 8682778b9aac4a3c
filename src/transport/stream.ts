import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { HeraldError } from '../errors.js';
import { readRequest, type RequestFacts } from '../http/request.js';
import type { RequestHead } from '../http/request-screen.js';
import { claimResponse, releaseResponse, responseHead } from '../http/server.js';
import type { Route } from '../rules/router.js';
import type { ChannelRouter } from './channels.js';
import type { Transport, TransportContext } from './context.js';
import { DelayedFlushQueue, FlushQueue } from './flush.js';
import { admitRequest, BROKER_RETRY_AFTER_S } from './lifecycle/admission.js';
import type { AuthResult } from './lifecycle/authorize.js';
import { ConnectionLifecycle } from './lifecycle/lifecycle.js';
import { resumeFrom } from './lifecycle/resume.js';
import { revalidateConnections } from './lifecycle/revalidate.js';
import type { CloseReason } from './stats.js';
import { StreamConnection, type StreamOwner } from './stream-connection.js';
import type { StreamFormat } from './stream-format.js';

const TICK_MS = 1000;

/**
 * GET /sse (text/event-stream) and GET /stream (NDJSON): one long-lived HTTP stream per
 * connection, any number of channels (up to the limit); the StreamFormat decides the bytes.
 * The lifecycle (admission, subscribe, deadline, drain, reload) is ConnectionLifecycle's;
 * this adapter writes: once all channels are live, the headers, `retry:`, the replay and
 * resets in one corked write → live messages batched per turn → at the deadline a final
 * chunk, so the client resumes with Last-Event-ID.
 */
export class StreamTransport implements StreamOwner, Transport {
  private readonly flushes: FlushQueue;
  /** Streams whose batch delay holds their next write back. */
  private readonly delayed: DelayedFlushQueue;
  /**
   * now() as read once per synchronous run, -1 when not read yet: a fan-out schedules and
   * then writes thousands of streams at one instant, and a clock read each (performance.now()
   * checks its receiver with hasOwnProperty, then reads the clock) cost ~60 ns per delivery,
   * twice (bench/issue-15.md, fifteenth pass).
   */
  private turnNowMs = -1;
  private readonly forgetTurnNow = (): void => {
    this.turnNowMs = -1;
  };
  deliveredInPass = 0;
  private readonly life: ConnectionLifecycle<StreamConnection>;
  private readonly ticker: NodeJS.Timeout;
  /** Status line and the format's headers: one native call (server.ts responseHead). */
  private readonly head: Buffer;

  constructor(
    private readonly ctx: TransportContext,
    readonly now: () => number,
    readonly format: StreamFormat,
  ) {
    this.life = new ConnectionLifecycle(ctx, format.transport, now);
    this.head = responseHead(200, format.headers);
    const countDelivered = (): void => {
      if (this.deliveredInPass > 0) {
        this.ctx.stats.delivered(this.format.transport, this.deliveredInPass);
        this.deliveredInPass = 0;
      }
    };
    this.flushes = new FlushQueue(ctx.log, countDelivered);
    this.delayed = new DelayedFlushQueue(ctx.log, now, countDelivered);
    this.ticker = this.life.every('stream tick', TICK_MS, () => this.tick());
  }

  get name(): 'sse' | 'ndjson' {
    return this.format.transport;
  }

  get size(): number {
    return this.life.size;
  }

  countsByClass(): ReadonlyMap<string, number> {
    return this.life.countsByClass();
  }

  readonly handle = (res: HttpResponse, req: HttpRequest, head?: RequestHead): void | Promise<void> => {
    const facts = readRequest(res, req, this.ctx.trustedIpHeader, head, this.ctx.limiter.counting);
    if (this.life.draining) return this.sendElsewhere(res, facts.origin);
    return admitRequest(this.ctx, res, facts, this.admitted, this.unavailable);
  };

  private readonly admitted = this.accept.bind(this);
  private readonly unavailable = this.sendUnavailable.bind(this);

  /**
   * The broker is down: not an error status (EventSource would give up for good) but a
   * stream that names the problem and ends; the client retries after the `retry` hint.
   */
  private sendUnavailable(res: HttpResponse, cors: readonly (readonly [string, string])[]): void {
    this.ctx.stats.clientError('broker_unavailable');
    const err = new HeraldError('broker_unavailable');
    this.writeHead(res, cors);
    const fields = JSON.stringify({ code: err.code, message: err.message, temporary: true });
    res.end(this.format.start(BROKER_RETRY_AFTER_S * 1000) + this.format.control('stream-error', '', fields));
  }

  private accept(res: HttpResponse, facts: RequestFacts, routes: readonly Route[], auth: AuthResult): void {
    const cls = this.life.classify(facts);
    const deadline = this.life.deadline(cls, auth.ttlMs);
    const conn = new StreamConnection(this, res, facts.ip, facts.origin, routes, cls, deadline, this.ctx.limits.maxBufferedBytes, this.now());
    claimResponse(res);
    // A bound function, not a closure: no per-stream context object (measured ~60 B less).
    res.onAborted(this.aborted.bind(this, conn));
    this.life.opened(conn);
    // To the millisecond; lifetimes are left to the 1 s ticker (their jitter is far coarser).
    if (deadline.reason === 'token_expired') conn.expiryTimer = this.life.timerAt('stream expiry', deadline.atMs, () => this.reachedDeadline(conn));
    const since = resumeFrom(facts.lastEventId !== '' ? facts.lastEventId : (facts.query.get('lastEventId') ?? ''));
    this.life.subscribeAll(conn, routes, since, (ready, route) => conn.onReady(route, ready));
  }

  /** Headers, CORS headers: the head of every 200 this transport writes. */
  private writeHead(res: HttpResponse, cors: readonly (readonly [string, string])[]): void {
    res.writeStatus(this.head);
    for (const [k, v] of cors) res.writeHeader(k, v);
  }

  /**
   * A request that reaches a draining process (a keep-alive connection opened before the
   * drain): no error status, which EventSource would treat as fatal, but a stream that tells
   * the client to reconnect at once, over a new connection that lands on another process.
   */
  private sendElsewhere(res: HttpResponse, origin: string): void {
    this.writeHead(res, this.ctx.cors.headers(origin));
    res.end(this.reconnectChunk(), true);
  }

  private reconnectChunk(): string {
    return this.format.start(500) + this.format.control('reconnect', '', '{"reason":"draining"}');
  }

  /** Every channel is live: write the head of the stream. */
  begin(conn: StreamConnection): void {
    const body = conn.takeInitial(this.ctx.sse.retryMs, this.ctx.hub.head(conn.routes));
    conn.res.cork(() => {
      this.writeHead(conn.res, this.ctx.cors.headers(conn.origin));
      const accepted = conn.res.write(body);
      conn.wrote(Buffer.byteLength(body), accepted);
    });
  }

  turnNow(): number {
    if (this.turnNowMs < 0) {
      this.turnNowMs = this.now();
      queueMicrotask(this.forgetTurnNow);
    }
    return this.turnNowMs;
  }

  schedule(conn: StreamConnection): void {
    if (conn.batchDelayMs > 0) {
      const atMs = conn.lastWriteMs + conn.batchDelayMs;
      if (this.turnNow() < atMs) return this.delayed.add(conn, atMs);
    }
    this.flushes.add(conn);
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
    const started = conn.initial === null;
    this.closed(conn, reason);
    conn.res.cork(() => {
      // Never started (a channel was not live yet): answer plainly so the client retries.
      if (!started) this.writeHead(conn.res, this.ctx.cors.headers(conn.origin));
      conn.res.end(finalChunk);
    });
  }

  private aborted(conn: StreamConnection): void {
    this.closed(conn, 'client');
  }

  private closed(conn: StreamConnection, reason: CloseReason): void {
    if (!this.life.closed(conn, reason)) return;
    if (conn.expiryTimer !== null) clearTimeout(conn.expiryTimer);
    releaseResponse(conn.res);
    this.life.unsubscribeAll(conn, conn.routes);
  }

  private tick(): void {
    const now = this.now();
    for (const conn of this.life.sessions) {
      if (now >= conn.deadlineMs) {
        this.reachedDeadline(conn);
      } else if (conn.initial === null && now - conn.lastWriteMs >= conn.cls.heartbeatMs) {
        conn.enqueue(this.format.heartbeat);
      }
    }
  }

  private reachedDeadline(conn: StreamConnection): void {
    const reason = conn.deadlineReason;
    const final =
      reason === 'token_expired'
        ? this.format.control('stream-error', '', JSON.stringify({ code: 'token_expired', message: new HeraldError('token_expired').message }))
        : this.format.lifetimeEnd;
    this.end(conn, reason, final);
  }

  /**
   * Drain: every stream gets a short retry hint and a `reconnect` event, then ends; the ends
   * are spread over `windowMs`. Resolves when all streams are gone.
   */
  drain(windowMs: number): Promise<void> {
    return this.life.drain(windowMs, (conn) => this.end(conn, 'drain', this.reconnectChunk()));
  }

  /**
   * After a config reload: a stream whose channels the new rules no longer route the same
   * way ends with an `error` event naming the channel; the client reconnects and is told
   * why. Returns the subscriptions ended.
   */
  revalidate(router: ChannelRouter): number {
    return revalidateConnections(this.life.sessions, router, (conn, err, route) =>
      this.end(conn, 'policy', this.format.control('stream-error', '', JSON.stringify({ code: err.code, channel: route.channel }))),
    );
  }

  close(): void {
    clearInterval(this.ticker);
    this.delayed.close();
  }
}
