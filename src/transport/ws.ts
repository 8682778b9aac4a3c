import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import { decodeWsFrame, encodeWsControl, isWsFrameProblem } from '../encode/ws.js';
import { HeraldError } from '../errors.js';
import { readRequest } from '../http/request.js';
import { readHead, screenHeader, screenRequest } from '../http/request-screen.js';
import { refuseAndClose, writeError } from '../http/server.js';
import { admitUpgrade, refuse } from './lifecycle/admission.js';
import { requestToken, type ChannelRouter } from './channels.js';
import type { Transport, TransportContext } from './context.js';
import { ConnectionLifecycle } from './lifecycle/lifecycle.js';
import type { CloseReason } from './stats.js';
import { NEVER, WsConn, type WsData } from './ws-conn.js';
import { WsSubscriptions } from './ws-subscriptions.js';

/** Close codes a client sees (README "WebSocket close codes"). All but 1008 mean: reconnect and resume. */
export const WS_CLOSE = { badFrames: 1008, restart: 1012, idle: 4000, lifetime: 4001, slowConsumer: 4008 } as const;

const TICK_MS = 1000;
/** Room above the 2 × maxBufferedBytes bound for pings and the close frame itself. */
const SLACK_BYTES = 64 * 1024;

/**
 * GET /ws: JSON text frames, any number of channels per socket (up to the limit).
 * Lifecycle: admission (origin + per-IP slot, as for every transport) → upgrade →
 * `?channel=` and `subscribe` frames go through WsSubscriptions (authorize, join the
 * channel's topic once live) → ends at idle, lifetime, slow consumer or drain.
 */
export class WsTransport implements Transport {
  readonly name = 'ws' as const;
  private readonly life: ConnectionLifecycle<WsConn>;
  private readonly subs: WsSubscriptions;
  private readonly boundBytes: number;
  private readonly ticker: NodeJS.Timeout;

  constructor(
    private readonly ctx: TransportContext,
    app: TemplatedApp,
    readonly now: () => number,
  ) {
    this.life = new ConnectionLifecycle(ctx, 'ws', now);
    // uWS settings are fixed per route; a reload can lower these bounds but not raise them.
    this.boundBytes = ctx.limits.maxBufferedBytes;
    this.subs = new WsSubscriptions(ctx, this.life, app, () => Math.min(this.ctx.limits.maxBufferedBytes, this.boundBytes), (conn) => this.dropSlow(conn));
    app.ws<WsData>('/ws', {
      maxPayloadLength: Math.max(1024 * 1024, 4 * ctx.limits.maxFrameBytes),
      // After a sweep a socket holds ≤ limit, then at most one more frame before the next
      // check: room for the largest frame (a text payload JSON-escapes to ≤ 6× its size), so
      // uWS's own limit (which would skip frames, or cut with 1006) is never what trips.
      maxBackpressure: 2 * this.boundBytes + 6 * ctx.limits.maxMessageBytes + SLACK_BYTES,
      // Only reachable through a bug in BufferBound: then uWS cuts the socket (1006) instead of skipping frames.
      closeOnBackpressureLimit: 1,
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: this.upgrade,
      open: (ws) => this.opened(ws),
      message: (ws, data, isBinary) => this.received(ws.getUserData().conn, data, isBinary),
      pong: (ws) => {
        ws.getUserData().conn.lastSeenMs = this.now();
      },
      close: (ws, code, message) => this.closed(ws.getUserData().conn, code, message),
    });
    this.ticker = this.life.every('ws tick', TICK_MS, () => this.tick());
  }

  get size(): number {
    return this.life.size;
  }

  /**
   * Per-(socket, channel) subscriptions, and the topic groups the hub counts instead (one
   * hub subscriber per channel): the metrics gauge swaps one for the other. Read at scrape.
   */
  subscriptionCounts(): { readonly sockets: number; readonly groups: number } {
    let sockets = 0;
    for (const conn of this.life.sessions) sockets += conn.subs.length;
    return { sockets, groups: this.subs.groupCount };
  }

  countsByClass(): ReadonlyMap<string, number> {
    return this.life.countsByClass();
  }

  private readonly upgrade = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    const ctx = this.ctx;
    const head = readHead(req, ctx.trustedIpHeader);
    const facts = readRequest(res, req, ctx.trustedIpHeader, head, ctx.limiter.counting);
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    // The screen first (framing, sizes), as for every plain HTTP request; it closes the connection.
    const max = ctx.limits.maxHeaderBytes;
    const screened =
      screenRequest(req, head, ctx.limits) ??
      screenHeader('sec-websocket-protocol', protocols, max) ??
      screenHeader('sec-websocket-extensions', extensions, max);
    if (screened !== null) {
      ctx.stats.clientError(screened.code);
      return screened.code === 'content_length_invalid' ? refuseAndClose(res, screened) : writeError(res, screened, [], true);
    }
    if (this.life.draining) return refuse(ctx, res, new HeraldError('draining'), []);
    if (!admitUpgrade(ctx, res, facts)) return;
    const cls = this.life.classify(facts);
    const conn = new WsConn(facts.ip, facts, cls, requestToken(facts.authorization, facts.query.get('token')), this.now(), this.life.lifetimeEnd(cls));
    const protocol = protocols.split(',')[0]!.trim();
    const key = req.getHeader('sec-websocket-key');
    // uWS copies the user data's properties onto a plain object: a one-field wrapper keeps
    // WsConn a class instance with in-object fields (measured ~70 B less per socket).
    res.upgrade<WsData>({ conn }, key, protocol, extensions, context);
  };

  private opened(ws: WebSocket<WsData>): void {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    conn.open = true;
    this.life.opened(conn);
    const initial = conn.initial;
    conn.initial = null;
    if (initial === null) return;
    for (const channel of initial.channels) {
      if (!conn.open) return;
      this.subs.subscribe(conn, channel, initial.since, null, null);
    }
  }

  private received(conn: WsConn, data: ArrayBuffer, isBinary: boolean): void {
    conn.lastSeenMs = this.now();
    if (isBinary) return this.badFrame(conn, new HeraldError('frame_binary'));
    const max = this.ctx.limits.maxFrameBytes;
    if (data.byteLength > max) return this.badFrame(conn, new HeraldError('frame_too_large', `at most ${max} bytes (limits.maxFrameBytes)`));
    const frame = decodeWsFrame(Buffer.from(data).toString('utf8'));
    if (isWsFrameProblem(frame)) return this.badFrame(conn, new HeraldError(frame.code, frame.details));
    switch (frame.type) {
      case 'ping':
        this.subs.send(conn, encodeWsControl('pong', frame.id === null ? {} : { id: frame.id }));
        return;
      case 'subscribe':
        this.subs.subscribe(conn, frame.channel, frame.since, frame.token, frame.id);
        return;
      case 'unsubscribe': {
        const sub = conn.find(frame.channel);
        if (sub === undefined) return this.subs.sendError(conn, new HeraldError('not_subscribed'), frame.channel, frame.id);
        this.subs.leave(conn, sub, true);
        this.subs.sendUnsubscribed(conn, frame.channel, frame.id);
      }
    }
  }

  private badFrame(conn: WsConn, err: HeraldError): void {
    this.subs.sendError(conn, err, null, null);
    if (++conn.badFrames > this.ctx.limits.maxBadFrames) this.end(conn, WS_CLOSE.badFrames, 'too many bad frames', 'policy');
  }

  dropSlow(conn: WsConn): void {
    if (!conn.open) return;
    this.ctx.stats.slowConsumerDrop('ws');
    this.end(conn, WS_CLOSE.slowConsumer, 'slow consumer', 'slow_consumer');
  }

  private end(conn: WsConn, code: number, reason: string, closeReason: CloseReason): void {
    if (!conn.open) return;
    conn.closeReason = closeReason;
    // Calls closed() synchronously.
    conn.ws!.end(code, reason);
  }

  private closed(conn: WsConn, code: number, message: ArrayBuffer): void {
    const reason = conn.closeReason === 'client' && isProtocolViolation(code, message) ? 'policy' : conn.closeReason;
    if (!this.life.closed(conn, reason)) return;
    // conn.subs is replaced, never mutated, on a change: the loop walks the list as it was.
    for (const sub of conn.subs) this.subs.leave(conn, sub, false);
    if (conn.expiryTimer !== null) clearTimeout(conn.expiryTimer);
  }

  private tick(): void {
    this.subs.sweepGroups();
    const now = this.now();
    for (const conn of this.life.sessions) {
      const cls = conn.cls;
      if (now >= conn.deadlineMs) this.end(conn, WS_CLOSE.lifetime, 'lifetime reached; reconnect and resume', 'lifetime');
      else if (now - conn.lastSeenMs >= cls.idleMs) this.end(conn, WS_CLOSE.idle, 'idle timeout', 'idle');
      else {
        if (conn.nextExpiryMs !== NEVER && now >= conn.nextExpiryMs) conn.ws!.cork(() => this.subs.expire(conn, now));
        // Ping well inside the idle window so a live client's pong always arrives in time.
        if (conn.open && now - conn.lastPingMs >= Math.min(cls.heartbeatMs, cls.idleMs / 2)) {
          conn.lastPingMs = now;
          conn.ws!.ping();
        }
      }
    }
  }

  /** Closes every socket with 1012, spread evenly over `windowMs`; resolves when all are gone. */
  drain(windowMs: number): Promise<void> {
    return this.life.drain(windowMs, (conn) => this.end(conn, WS_CLOSE.restart, 'service restart', 'drain'));
  }

  /** After a reload: ends the subscriptions the new rules deny (or map elsewhere); returns how many. */
  revalidate(router: ChannelRouter): number {
    return this.subs.revalidate(router);
  }

  close(): void {
    clearInterval(this.ticker);
  }
}

/**
 * uWS cuts a socket that breaks the protocol (a frame over maxPayloadLength, invalid UTF-8
 * text) itself, with no close frame: the handler sees 1006 and uWS's reason text. A client that
 * vanished also gives 1006, with no text. Other violations (a stray continuation frame, an
 * unmasked frame, reserved bits) give no text either, so they count as `client`.
 */
function isProtocolViolation(code: number, message: ArrayBuffer): boolean {
  return code === 1006 && message.byteLength > 0;
}
