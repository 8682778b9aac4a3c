import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import type { ClientClassConfig } from '../config/types.js';
import { decodeWsFrame, encodeWsControl, encodeWsError, isWsFrameProblem } from '../encode/ws.js';
import { HeraldError, type ErrorCodeName } from '../errors.js';
import { readRequest, type RequestFacts } from '../http/request.js';
import { writeError } from '../http/server.js';
import type { Ready } from '../hub/hub.js';
import { parsePosition, type Position } from '../hub/position.js';
import type { Route } from '../rules/router.js';
import type { AuthResult } from './authorize.js';
import { requestToken, type ChannelRouter } from './channels.js';
import { ClassCounts } from './class-counts.js';
import type { TransportContext } from './context.js';
import type { CloseReason } from './stats.js';
import { BufferBound, TopicGroup } from './ws-topics.js';

/** Close codes a client sees (README "WebSocket close codes"). All but 1008 mean: reconnect and resume. */
export const WS_CLOSE = { badFrames: 1008, restart: 1012, idle: 4000, lifetime: 4001, slowConsumer: 4008 } as const;

const TICK_MS = 1000;
/** Room above the 2 × maxBufferedBytes bound for pings and the close frame itself. */
const SLACK_BYTES = 64 * 1024;
/**
 * "No expiry" as the largest small integer: times here are whole ms of performance.now(),
 * kept as small integers so V8 stores them inside the object (Infinity would box a heap
 * number per field per socket). 2^30 ms is 12 days of process uptime.
 */
const NEVER = 2 ** 30 - 1;

export interface SocketSub {
  readonly route: Route;
  readonly id: string | null;
  state: 'auth' | 'pending' | 'live';
  group: TopicGroup | null;
  /** Monotonic ms when the token behind this subscription expires (NEVER: public). */
  expiresAtMs: number;
}

interface WsData {
  readonly conn: WsConn;
}

export class WsConn {
  ws: WebSocket<WsData> | null = null;
  open = false;
  /**
   * A plain array, replaced (not grown) on change: most sockets hold one or two
   * subscriptions; a Map, or push() reserving 17 slots, costs 100+ B more per socket.
   */
  subs: readonly SocketSub[] = [];
  badFrames = 0;
  closeReason: CloseReason = 'client';
  nextExpiryMs = NEVER;
  /** Fires at nextExpiryMs: the 1 s ticker alone could end a subscription up to 1 s late. */
  expiryTimer: NodeJS.Timeout | null = null;
  lastPingMs: number;

  /** `?channel=` / `?since=` of the upgrade, consumed when the socket opens. */
  initial: { readonly channels: readonly string[]; readonly since: string | null } | null;

  constructor(
    readonly ip: string,
    facts: RequestFacts,
    readonly cls: ClientClassConfig,
    readonly token: string,
    public lastSeenMs: number,
    readonly deadlineMs: number,
  ) {
    this.lastPingMs = lastSeenMs;
    const channels = facts.query.getAll('channel');
    this.initial = channels.length === 0 ? null : { channels: [...new Set(channels)], since: facts.query.get('since') };
  }
}


/**
 * GET /ws: JSON text frames, any number of channels per socket (up to the limit).
 * Lifecycle: origin + per-IP check → upgrade → `?channel=` and `subscribe` frames are
 * authorized, then joined to their channel's topic once live (replay, `subscribed`, topic
 * subscribe in one synchronous block) → ends at idle, lifetime, slow consumer or drain.
 */
export class WsTransport {
  readonly connections = new Set<WsConn>();
  private readonly groups = new Map<string, TopicGroup>();
  private readonly perClass = new ClassCounts();
  private readonly bound = new BufferBound(this);
  private readonly boundBytes: number;
  private readonly ticker: NodeJS.Timeout;
  private deliveredInTurn = 0;
  private reportScheduled = false;
  private draining = false;

  constructor(
    private readonly ctx: TransportContext,
    private readonly app: TemplatedApp,
    readonly now: () => number,
  ) {
    // uWS settings are fixed per route; a reload can lower these bounds but not raise them.
    this.boundBytes = ctx.limits.maxBufferedBytes;
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
      close: (ws, code) => this.closed(ws.getUserData().conn, code),
    });
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  /**
   * Per-(socket, channel) subscriptions, and the topic groups the hub counts instead (one
   * hub subscriber per channel): the metrics gauge swaps one for the other. Read at scrape.
   */
  subscriptionCounts(): { readonly sockets: number; readonly groups: number } {
    let sockets = 0;
    for (const conn of this.connections) sockets += conn.subs.length;
    return { sockets, groups: this.groups.size };
  }

  countsByClass(): ReadonlyMap<string, number> {
    return this.perClass.byClass;
  }

  private get limit(): number {
    return Math.min(this.ctx.limits.maxBufferedBytes, this.boundBytes);
  }

  private readonly upgrade = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    const ctx = this.ctx;
    const facts = readRequest(res, req, ctx.trustedIpHeader);
    let refusal: HeraldError | null = null;
    if (!ctx.cors.allowsOrigin(facts.origin)) refusal = new HeraldError('origin_denied');
    else if (this.draining) refusal = new HeraldError('draining');
    else if (!ctx.limiter.admit(facts.ip)) refusal = new HeraldError('too_many_connections');
    if (refusal !== null) {
      ctx.stats.clientError(refusal.code);
      writeError(res, refusal);
      return;
    }
    const cls = ctx.classifier.classify(facts.query.get(ctx.classifier.param) ?? '', facts.userAgent);
    const now = this.now();
    // ±10% jitter so sockets opened together do not all reconnect together.
    const deadline = Math.floor(now + cls.lifetimeMs * (0.9 + Math.random() * 0.2));
    const conn = new WsConn(facts.ip, facts, cls, requestToken(facts.authorization, facts.query.get('token')), now, deadline);
    const protocol = req.getHeader('sec-websocket-protocol').split(',')[0]!.trim();
    const key = req.getHeader('sec-websocket-key');
    const extensions = req.getHeader('sec-websocket-extensions');
    // uWS copies the user data's properties onto a plain object: a one-field wrapper keeps
    // WsConn a class instance with in-object fields (measured ~70 B less per socket).
    res.upgrade<WsData>({ conn }, key, protocol, extensions, context);
  };

  private opened(ws: WebSocket<WsData>): void {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    conn.open = true;
    this.connections.add(conn);
    this.perClass.add(conn.cls.name);
    this.ctx.stats.connectionOpened('ws', conn.cls.name);
    const initial = conn.initial;
    conn.initial = null;
    if (initial === null) return;
    for (const channel of initial.channels) {
      if (!conn.open) return;
      this.subscribe(conn, channel, initial.since, null, null);
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
        this.send(conn, encodeWsControl('pong', frame.id === null ? {} : { id: frame.id }));
        return;
      case 'subscribe':
        this.subscribe(conn, frame.channel, frame.since, frame.token, frame.id);
        return;
      case 'unsubscribe': {
        const sub = findSub(conn, frame.channel);
        if (sub === undefined) return this.sendError(conn, new HeraldError('not_subscribed'), frame.channel, frame.id);
        this.leave(conn, sub, true);
        this.sendUnsubscribed(conn, frame.channel, frame.id);
      }
    }
  }

  private badFrame(conn: WsConn, err: HeraldError): void {
    this.sendError(conn, err, null, null);
    if (++conn.badFrames > this.ctx.limits.maxBadFrames) this.end(conn, WS_CLOSE.badFrames, 'too many bad frames', 'policy');
  }

  private subscribe(conn: WsConn, channel: string, sinceText: string | null, token: string | null, id: string | null): void {
    if (findSub(conn, channel) !== undefined) return this.sendError(conn, new HeraldError('already_subscribed'), channel, id);
    const max = this.ctx.limits.maxSubscriptionsPerConnection;
    if (conn.subs.length >= max) {
      return this.sendError(conn, new HeraldError('too_many_subscriptions', `at most ${max} (limits.maxSubscriptionsPerConnection)`), channel, id);
    }
    const route = this.ctx.router.route(channel);
    if (route instanceof HeraldError) return this.sendError(conn, route, channel, id);
    const since = sinceText === null || sinceText === '' ? null : parsePosition(sinceText);
    const sub: SocketSub = { route, id, state: 'auth', group: null, expiresAtMs: NEVER };
    conn.subs = withSub(conn.subs, sub);
    const auth = this.ctx.authorize([route], token ?? conn.token);
    if (!(auth instanceof Promise)) return this.authorized(conn, sub, since, auth);
    auth.then(
      (result) => {
        if (conn.open) conn.ws!.cork(() => this.authorized(conn, sub, since, result));
      },
      (err: unknown) => {
        this.ctx.log.error('authorizer failed', { err: err instanceof Error ? err : new Error(String(err)) });
        if (conn.open && removeSub(conn, sub)) {
          conn.ws!.cork(() => this.sendError(conn, new HeraldError('internal'), channel, id));
        }
      },
    );
  }

  private authorized(conn: WsConn, sub: SocketSub, since: Position | null, auth: AuthResult): void {
    const channel = sub.route.channel;
    if (!conn.open || findSub(conn, channel) !== sub) return;
    if (auth.error !== null) {
      removeSub(conn, sub);
      return this.sendError(conn, auth.error, channel, sub.id);
    }
    if (Number.isFinite(auth.expiresAtMs)) {
      sub.expiresAtMs = Math.min(NEVER, Math.floor(this.now() + (auth.expiresAtMs - Date.now())));
      if (sub.expiresAtMs < conn.nextExpiryMs) this.scheduleExpiry(conn, sub.expiresAtMs);
    }
    sub.state = 'pending';
    const topic = topicOf(sub.route);
    let group = this.groups.get(topic);
    if (group === undefined) {
      group = new TopicGroup(this, sub.route, topic);
      this.groups.set(topic, group);
      const g = group;
      this.ctx.hub.subscribe(g, sub.route, null, () => g.onReady());
    } else if (group.route.rule !== sub.route.rule) {
      // A reload kept the mapping but changed the rule (payload, history): apply it.
      group.route = sub.route;
      this.ctx.hub.updateRoute(sub.route);
    }
    sub.group = group;
    if (group.ready && this.ctx.hub.isLive(group.route)) this.activate(group, conn, sub, since);
    else group.pending.push({ conn, sub, since });
  }

  /** The channel is live (again): join every waiting socket. */
  activatePending(group: TopicGroup): void {
    const pending = group.pending;
    group.pending = [];
    for (const p of pending) {
      if (p.conn.open && p.sub.group === group) p.conn.ws!.cork(() => this.activate(group, p.conn, p.sub, p.since));
    }
  }

  /**
   * Replay, `subscribed`, then the topic, in one synchronous block: a message is either in
   * the replay (published before this instant) or on the topic (after), never both, never neither.
   */
  private activate(group: TopicGroup, conn: WsConn, sub: SocketSub, since: Position | null): void {
    // Synchronous unless a durable channel's stream must be read (issue 10): then the socket
    // may have left meanwhile, and the answer needs its own cork.
    let isSync = true;
    group.resuming++;
    this.ctx.hub.resume(group.route, since, (ready) => {
      group.resuming--;
      if (isSync) this.joined(group, conn, sub, ready);
      else if (conn.open && sub.group === group && sub.state === 'pending') conn.ws!.cork(() => this.joined(group, conn, sub, ready));
      else this.releaseIfUnused(group);
    });
    isSync = false;
  }

  private joined(group: TopicGroup, conn: WsConn, sub: SocketSub, ready: Ready): void {
    const channel = group.route.channel;
    const ws = conn.ws!;
    let ok = true;
    if (ready.reset !== null) ok = ws.send(encodeWsControl('reset', { channel, reason: ready.reset, position: ready.position })) !== 2;
    for (let i = 0; ok && i < ready.replay.length; i++) ok = ws.send(ready.replay[i]!.ws) !== 2;
    const fields: Record<string, string> = { channel, position: ready.position };
    if (sub.id !== null) fields.id = sub.id;
    if (ok) ok = ws.send(encodeWsControl('subscribed', fields)) !== 2;
    if (!ok) return this.dropSlow(conn);
    ws.subscribe(group.topic);
    group.members.add(conn);
    sub.state = 'live';
    this.count(ready.replay.length);
    if (this.bound.checkOne(ws.getBufferedAmount(), this.limit)) this.dropSlow(conn);
  }

  /** Ends one subscription; `usable` is false from the close handler (the socket is gone). */
  private leave(conn: WsConn, sub: SocketSub, usable: boolean): void {
    removeSub(conn, sub);
    const group = sub.group;
    sub.group = null;
    if (group === null) return;
    if (sub.state === 'live') {
      if (usable) conn.ws!.unsubscribe(group.topic);
      group.members.delete(conn);
    } else {
      group.pending = group.pending.filter((p) => p.sub !== sub);
    }
    this.releaseIfUnused(group);
  }

  /** Gives the channel back to the hub once no socket is on it, waiting, or resuming. */
  private releaseIfUnused(group: TopicGroup): void {
    const isUnused = (): boolean => group.members.size === 0 && group.pending.length === 0 && group.resuming === 0;
    if (isUnused() && !group.releaseScheduled) {
      group.releaseScheduled = true;
      // Deferred: this can run inside the hub's fan-out (a sweep closing a socket), which must not re-enter the hub.
      setImmediate(() => {
        group.releaseScheduled = false;
        if (!isUnused() || this.groups.get(group.topic) !== group) return;
        this.groups.delete(group.topic);
        this.ctx.hub.unsubscribe(group, group.route);
      });
    }
  }

  /** One call for every socket on the topic; the frame was built once for all transports' subscribers. */
  publish(group: TopicGroup, frame: string, isMessage: boolean): void {
    this.bound.reserve(Buffer.byteLength(frame), this.limit);
    this.app.publish(group.topic, frame, false);
    if (isMessage) this.count(group.members.size);
  }

  private count(n: number): void {
    if (n === 0) return;
    this.deliveredInTurn += n;
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    setImmediate(() => {
      this.reportScheduled = false;
      this.ctx.stats.delivered('ws', this.deliveredInTurn);
      this.deliveredInTurn = 0;
    });
  }

  private send(conn: WsConn, frame: string): void {
    if (!conn.open) return;
    const ws = conn.ws!;
    if (ws.send(frame) === 2 || this.bound.checkOne(ws.getBufferedAmount(), this.limit)) this.dropSlow(conn);
  }

  private sendError(conn: WsConn, err: HeraldError, channel: string | null, id: string | null): void {
    this.ctx.stats.clientError(err.code);
    this.send(conn, encodeWsError(err.code, err.message, channel, id));
  }

  private sendUnsubscribed(conn: WsConn, channel: string, id: string | null): void {
    this.send(conn, encodeWsControl('unsubscribed', id === null ? { channel } : { channel, id }));
  }

  /** Ends one subscription with an error frame then `unsubscribed` (token expiry, reload). */
  private endSubscription(conn: WsConn, sub: SocketSub, code: ErrorCodeName, err: HeraldError | null = null): void {
    this.leave(conn, sub, true);
    this.sendError(conn, err ?? new HeraldError(code), sub.route.channel, null);
    this.sendUnsubscribed(conn, sub.route.channel, null);
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

  private closed(conn: WsConn, code: number): void {
    if (!conn.open) return;
    conn.open = false;
    this.connections.delete(conn);
    this.perClass.remove(conn.cls.name);
    for (const sub of [...conn.subs]) this.leave(conn, sub, false);
    if (conn.expiryTimer !== null) clearTimeout(conn.expiryTimer);
    this.ctx.limiter.release(conn.ip);
    const reason = conn.closeReason === 'client' && code === 1009 ? 'policy' : conn.closeReason;
    this.ctx.stats.connectionClosed('ws', reason);
  }

  private tick(): void {
    const now = this.now();
    for (const conn of this.connections) {
      const cls = conn.cls;
      if (now >= conn.deadlineMs) this.end(conn, WS_CLOSE.lifetime, 'lifetime reached; reconnect and resume', 'lifetime');
      else if (now - conn.lastSeenMs >= cls.idleMs) this.end(conn, WS_CLOSE.idle, 'idle timeout', 'idle');
      else {
        if (conn.nextExpiryMs !== NEVER && now >= conn.nextExpiryMs) conn.ws!.cork(() => this.expire(conn, now));
        // Ping well inside the idle window so a live client's pong always arrives in time.
        if (conn.open && now - conn.lastPingMs >= Math.min(cls.heartbeatMs, cls.idleMs / 2)) {
          conn.lastPingMs = now;
          conn.ws!.ping();
        }
      }
    }
  }

  private expire(conn: WsConn, now: number): void {
    let next = NEVER;
    for (const sub of [...conn.subs]) {
      if (sub.expiresAtMs <= now) this.endSubscription(conn, sub, 'token_expired');
      else next = Math.min(next, sub.expiresAtMs);
    }
    // Ending a subscription can drop the socket: no timer for a closed connection.
    if (conn.open) this.scheduleExpiry(conn, next);
  }

  private scheduleExpiry(conn: WsConn, atMs: number): void {
    if (conn.expiryTimer !== null) clearTimeout(conn.expiryTimer);
    conn.expiryTimer = null;
    conn.nextExpiryMs = atMs;
    const delay = atMs - this.now();
    // Past setTimeout's range the ticker catches it (Node would fire such a timer at once).
    if (atMs === NEVER || delay > 2 ** 31 - 1) return;
    conn.expiryTimer = setTimeout(() => {
      conn.expiryTimer = null;
      if (conn.open) conn.ws!.cork(() => this.expire(conn, this.now()));
    }, Math.max(0, delay));
    conn.expiryTimer.unref();
  }

  /** Closes every socket with 1012, spread evenly over `windowMs`; resolves when all are gone. */
  drain(windowMs: number): Promise<void> {
    this.draining = true;
    const conns = [...this.connections];
    if (conns.length === 0) return Promise.resolve();
    const step = conns.length > 1 ? windowMs / conns.length : 0;
    return new Promise((resolve) => {
      let done = 0;
      conns.forEach((conn, i) => {
        const t = setTimeout(() => {
          this.end(conn, WS_CLOSE.restart, 'service restart', 'drain');
          if (++done === conns.length) resolve();
        }, i * step);
        t.unref();
      });
    });
  }

  /** After a reload: ends the subscriptions the new rules deny (or map elsewhere); returns how many. */
  revalidate(router: ChannelRouter): number {
    let ended = 0;
    for (const conn of this.connections) {
      for (const sub of [...conn.subs]) {
        const route = router.route(sub.route.channel);
        const err = route instanceof HeraldError ? route : route.redisChannel !== sub.route.redisChannel ? new HeraldError('channel_denied', 'the channel rules changed; subscribe again') : null;
        if (err === null) continue;
        // The error frame can push a socket past its bound and close it mid-loop.
        if (!conn.open) break;
        conn.ws!.cork(() => this.endSubscription(conn, sub, err.code, err));
        ended++;
      }
    }
    return ended;
  }

  close(): void {
    clearInterval(this.ticker);
  }
}

/**
 * The uWS topic of a channel mapping: client channel AND Redis channel, so after a reload
 * remaps a channel the lingering old mapping never publishes to the new subscribers.
 */
function topicOf(route: Route): string {
  return route.redisChannel + ' ' + route.channel;
}

/** A copy one longer, sized exactly (spread and push both reserve spare slots). */
function withSub(subs: readonly SocketSub[], sub: SocketSub): SocketSub[] {
  const next = new Array<SocketSub>(subs.length + 1);
  for (let i = 0; i < subs.length; i++) next[i] = subs[i]!;
  next[subs.length] = sub;
  return next;
}

function findSub(conn: WsConn, channel: string): SocketSub | undefined {
  for (const sub of conn.subs) if (sub.route.channel === channel) return sub;
  return undefined;
}

/** Removes `sub` from its connection; false when it was no longer there. */
function removeSub(conn: WsConn, sub: SocketSub): boolean {
  if (!conn.subs.includes(sub)) return false;
  conn.subs = conn.subs.filter((s) => s !== sub);
  return true;
}
