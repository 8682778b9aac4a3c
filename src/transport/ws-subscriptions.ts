import type { TemplatedApp } from 'uWebSockets.js';
import { encodeWsControl, encodeWsError, encodeWsSubscribed } from '../encode/ws.js';
import { HeraldError } from '../errors.js';
import type { Ready } from '../hub/hub.js';
import type { ChannelRouter } from './channels.js';
import type { TransportContext } from './context.js';
import type { AuthResult } from './lifecycle/authorize.js';
import type { ConnectionLifecycle } from './lifecycle/lifecycle.js';
import { resumeFrom, type Since } from './lifecycle/resume.js';
import { routeChange } from './lifecycle/revalidate.js';
import { topicDrain } from './flush.js';
import { NEVER, type SocketSub, type WsConn } from './ws-conn.js';
import { TopicGroups } from './ws-groups.js';
import { BufferBound, TopicGroup, type TopicOwner } from './ws-topics.js';

/**
 * The subscriptions of every socket: authorize → join the channel's topic group → live,
 * per-subscription token expiry, and the reload check. A socket's subscriptions come and go
 * while it stays open, so here the lifecycle's unit is the subscription, not the connection.
 */
export class WsSubscriptions implements TopicOwner {
  private readonly groups: TopicGroups<TopicGroup>;
  private readonly bound: BufferBound<WsConn>;

  constructor(
    private readonly ctx: TransportContext,
    private readonly life: ConnectionLifecycle<WsConn>,
    private readonly app: TemplatedApp,
    /** The current unsent-bytes bound (a reload may lower it). */
    private readonly limit: () => number,
    /** Ends a socket past its bound (4008). */
    private readonly drop: (conn: WsConn) => void,
  ) {
    this.bound = new BufferBound(life.sessions, (conn) => conn.ws!, drop);
    this.groups = new TopicGroups(life.now, (group) => this.ctx.hub.unsubscribe(group, group.route));
  }

  get groupCount(): number {
    return this.groups.size;
  }

  subscribe(conn: WsConn, channel: string, sinceText: string | null, token: string | null, id: string | null): void {
    if (conn.find(channel) !== undefined) return this.sendError(conn, new HeraldError('already_subscribed'), channel, id);
    const max = this.ctx.limits.maxSubscriptionsPerConnection;
    if (conn.subs.length >= max) {
      return this.sendError(conn, new HeraldError('too_many_subscriptions', `at most ${max} (limits.maxSubscriptionsPerConnection)`), channel, id);
    }
    const route = this.ctx.router.route(channel);
    if (route instanceof HeraldError) return this.sendError(conn, route, channel, id);
    const since = resumeFrom(sinceText ?? '');
    const sub: SocketSub = { route, id, state: 'auth', group: null, expiresAtMs: NEVER };
    conn.add(sub);
    const auth = this.ctx.authorize([route], token ?? conn.token);
    if (!(auth instanceof Promise)) return this.authorized(conn, sub, since, auth);
    auth.then(
      (result) => {
        if (conn.open) conn.ws!.cork(() => this.authorized(conn, sub, since, result));
      },
      (err: unknown) => {
        this.ctx.log.error('authorizer failed', { err: err instanceof Error ? err : new Error(String(err)) });
        if (conn.open && conn.remove(sub)) {
          conn.ws!.cork(() => this.sendError(conn, new HeraldError('internal'), channel, id));
        }
      },
    );
  }

  private authorized(conn: WsConn, sub: SocketSub, since: Since, auth: AuthResult): void {
    const channel = sub.route.channel;
    if (!conn.open || conn.find(channel) !== sub) return;
    if (auth.error !== null) {
      conn.remove(sub);
      return this.sendError(conn, auth.error, channel, sub.id);
    }
    if (auth.ttlMs !== Infinity) {
      sub.expiresAtMs = Math.min(NEVER, this.life.tokenEnd(auth.ttlMs));
      if (sub.expiresAtMs < conn.nextExpiryMs) this.scheduleExpiry(conn, sub.expiresAtMs);
    }
    sub.state = 'pending';
    // The mapping's key: after a reload remaps a channel, the lingering old mapping never
    // publishes to the new subscribers.
    const topic = sub.route.key;
    let group = this.groups.get(topic);
    if (group === undefined) {
      group = new TopicGroup(this, sub.route, topic);
      this.groups.add(group);
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
  private activate(group: TopicGroup, conn: WsConn, sub: SocketSub, since: Since): void {
    // Synchronous unless a durable channel's stream must be read (issue 10): then the socket
    // may have left meanwhile, and the answer needs its own cork.
    let isSync = true;
    group.resuming++;
    this.ctx.hub.resume(group.route, since, (ready) => {
      group.resuming--;
      if (isSync) this.joined(group, conn, sub, ready);
      else if (conn.open && sub.group === group && sub.state === 'pending') conn.ws!.cork(() => this.joined(group, conn, sub, ready));
      else this.groups.left(group);
    });
    isSync = false;
  }

  private joined(group: TopicGroup, conn: WsConn, sub: SocketSub, ready: Ready): void {
    const channel = group.route.channel;
    const ws = conn.ws!;
    let ok = true;
    if (ready.reset !== null) ok = ws.send(encodeWsControl('reset', { channel, reason: ready.reset, position: ready.position })) !== 2;
    for (let i = 0; ok && i < ready.replay.length; i++) ok = ws.send(ready.replay[i]!.ws) !== 2;
    if (ok) ok = ws.send(encodeWsSubscribed(channel, ready.position, sub.id)) !== 2;
    if (!ok) return this.drop(conn);
    ws.subscribe(group.topic);
    group.addMember(conn);
    sub.state = 'live';
    this.count(ready.replay.length);
    if (this.bound.checkOne(ws.getBufferedAmount(), this.limit())) this.drop(conn);
  }

  /** Ends one subscription; `usable` is false from the close handler (the socket is gone). */
  leave(conn: WsConn, sub: SocketSub, usable: boolean): void {
    conn.remove(sub);
    const group = sub.group;
    sub.group = null;
    if (group === null) return;
    if (sub.state === 'live') {
      if (usable) conn.ws!.unsubscribe(group.topic);
      group.deleteMember(conn);
    } else {
      group.pending = group.pending.filter((p) => p.sub !== sub);
    }
    this.groups.left(group);
  }

  /** Releases the topic groups no socket has used for their linger (from the transport's tick). */
  sweepGroups(): void {
    this.groups.sweep();
  }

  /** One call for every socket on the topic (the frame is built once for every transport). */
  publish(group: TopicGroup, frame: string, isMessage: boolean): void {
    this.bound.reserve(Buffer.byteLength(frame), this.limit());
    this.app.publish(group.topic, frame, false);
    topicDrain.mark();
    if (isMessage) this.count(group.members.size);
  }

  /**
   * The message to each socket now (TopicGroup.deliver says when). Several sockets share one
   * UTF-8 Buffer, not a conversion per ws.send of a string, and the turn's streams and polls
   * still wait for the check phase, as after a topic publish (flush.ts). A drop takes its
   * socket out of the set; the loop does not visit it.
   */
  sendEach(group: TopicGroup, frame: string): void {
    const data = group.members.size > 1 ? Buffer.from(frame) : frame;
    this.bound.reserve(typeof data === 'string' ? Buffer.byteLength(data) : data.length, this.limit());
    for (const conn of group.members) if (conn.ws!.send(data, false) === 2) this.drop(conn);
    if (typeof data !== 'string') topicDrain.mark();
    this.count(group.members.size);
  }

  /** Once per publish or sendEach: a plain increment, cheaper than an end-of-turn sum (~1–2 µs, one-per-channel). */
  private count(n: number): void {
    if (n !== 0) this.ctx.stats.delivered('ws', n);
  }

  send(conn: WsConn, frame: string): void {
    if (!conn.open) return;
    const ws = conn.ws!;
    if (ws.send(frame) === 2 || this.bound.checkOne(ws.getBufferedAmount(), this.limit())) this.drop(conn);
  }

  sendError(conn: WsConn, err: HeraldError, channel: string | null, id: string | null): void {
    this.ctx.stats.clientError(err.code);
    this.send(conn, encodeWsError(err.code, err.message, channel, id));
  }

  sendUnsubscribed(conn: WsConn, channel: string, id: string | null): void {
    this.send(conn, encodeWsControl('unsubscribed', id === null ? { channel } : { channel, id }));
  }

  /** Ends one subscription with an error frame then `unsubscribed` (token expiry, reload). */
  private endSubscription(conn: WsConn, sub: SocketSub, err: HeraldError): void {
    this.leave(conn, sub, true);
    this.sendError(conn, err, sub.route.channel, null);
    this.sendUnsubscribed(conn, sub.route.channel, null);
  }

  /** Ends the subscriptions whose token expired by `now`; re-arms the timer for the next. */
  expire(conn: WsConn, now: number): void {
    let next = NEVER;
    for (const sub of [...conn.subs]) {
      if (sub.expiresAtMs <= now) this.endSubscription(conn, sub, new HeraldError('token_expired'));
      else next = Math.min(next, sub.expiresAtMs);
    }
    // Ending a subscription can drop the socket: no timer for a closed connection.
    if (conn.open) this.scheduleExpiry(conn, next);
  }

  private scheduleExpiry(conn: WsConn, atMs: number): void {
    if (conn.expiryTimer !== null) clearTimeout(conn.expiryTimer);
    conn.expiryTimer = null;
    conn.nextExpiryMs = atMs;
    if (atMs === NEVER) return;
    conn.expiryTimer = this.life.timerAt('ws expiry', atMs, () => {
      conn.expiryTimer = null;
      if (conn.open) conn.ws!.cork(() => this.expire(conn, this.life.now()));
    });
  }

  /** After a reload: ends the subscriptions the new rules deny (or map elsewhere); returns how many. */
  revalidate(router: ChannelRouter): number {
    let ended = 0;
    for (const conn of this.life.sessions) {
      for (const sub of [...conn.subs]) {
        const err = routeChange(router, sub.route);
        if (err === null) continue;
        // The error frame can push a socket past its bound and close it mid-loop.
        if (!conn.open) break;
        conn.ws!.cork(() => this.endSubscription(conn, sub, err));
        ended++;
      }
    }
    return ended;
  }
}
