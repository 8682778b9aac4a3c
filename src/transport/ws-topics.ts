import { encodeWsControl } from '../encode/ws.js';
import type { PreparedMessage } from '../hub/message.js';
import { Listed, type ResetReason, type Subscriber } from '../hub/subscriber.js';
import type { Route } from '../rules/router.js';
import type { PendingJoin, SubGroup, WsConn } from './ws-conn.js';

/** A channel whose previous message is at least this old is quiet: see TopicGroup. */
export const QUIET_MS = 20;
/** ...unless it used its topic this recently: a busy channel after a stall is still busy. */
export const BUSY_MS = 250;

/** What a topic group calls back into (WsSubscriptions implements it). */
export interface TopicOwner {
  /** One uWS publish of `frame` to every socket on the group's topic. */
  publish(group: TopicGroup, frame: string, isMessage: boolean): void;
  /** A message sent now with ws.send to each socket of the group. */
  sendEach(group: TopicGroup, frame: string): void;
  /** The channel is live (again): join every socket waiting on the group. */
  activatePending(group: TopicGroup): void;
}

/**
 * One hub Subscriber per channel. A message on a busy channel becomes ONE app.publish() of
 * its prepared frame, whatever the number of sockets on the topic: uWS writes everything a
 * socket's topics got in one loop iteration as one write, at the iteration's end.
 *
 * A quiet channel's message (the previous one QUIET_MS or more before it, and no topic
 * publish for BUSY_MS) goes to each socket at once with ws.send: there is no burst to
 * gather, and waiting for the iteration's end only made the sockets wait (bench/issue-15.md,
 * seventeenth pass: broadcast WS @ 5,000 p50 12–24% lower, CPU no higher). BUSY_MS keeps
 * a busy channel on its topic after a stall, when its next read carries a backlog whose first
 * message would otherwise look quiet and cost every socket a second write. A channel with one
 * socket (a user's own channel) sends the first message of each millisecond that way: uWS's
 * topic tree is pure overhead there (~1.5 µs a message in the one-per-channel profile,
 * seventh pass).
 *
 * Any other message takes the topic. Order holds across the two paths: uWS 20.30's ws.send
 * first writes what the topic holds for that socket.
 */
export class TopicGroup extends Listed implements Subscriber, SubGroup {
  readonly transport = 'ws' as const;
  readonly members = new Set<WsConn>();
  /** receivedAtMs of the group's previous message, and of its last topic publish (whole ms). */
  private lastAtMs = -(2 ** 30);
  private topicAtMs = -(2 ** 30);
  /** Sockets waiting for the channel to be live (first subscribe, or a broker gap). */
  pending: PendingJoin[] = [];
  ready = false;
  unusedSinceMs = -1;
  /** Sockets whose resume reads a durable channel's stream (issue 10): the group stays meanwhile. */
  resuming = 0;

  constructor(
    readonly owner: TopicOwner,
    public route: Route,
    readonly topic: string,
  ) {
    super();
  }

  addMember(conn: WsConn): void {
    this.members.add(conn);
  }

  deleteMember(conn: WsConn): void {
    this.members.delete(conn);
  }

  deliver(message: PreparedMessage): void {
    // A lingering group (TopicGroups): no socket to send to, nothing to encode.
    if (this.members.size === 0) return;
    const atMs = message.receivedAtMs;
    const direct = this.members.size === 1 ? atMs !== this.lastAtMs : atMs - this.lastAtMs >= QUIET_MS && atMs - this.topicAtMs >= BUSY_MS;
    this.lastAtMs = atMs;
    if (direct) return this.owner.sendEach(this, message.ws);
    this.topicAtMs = atMs;
    this.owner.publish(this, message.ws, true);
  }

  reset(channel: string, reason: ResetReason, position: string): void {
    this.owner.publish(this, encodeWsControl('reset', { channel, reason, position }), false);
    this.owner.activatePending(this);
  }

  onReady(): void {
    this.ready = true;
    this.owner.activatePending(this);
  }
}

/** A socket as the bound sees it: how many bytes uWS holds for it. */
export interface Buffered {
  getBufferedAmount(): number;
}

/**
 * Keeps every socket's uWS buffer under the bound without one call per socket per message.
 *
 * uWS (this version, measured) SKIPS a published frame for a socket whose buffer is past
 * maxBackpressure and reports success, so a socket must be closed before it gets there.
 * Invariant, for every open socket: buffered ≤ maxSeen + since, where `since` counts bytes
 * sent since the last sweep. Before a publish could break `buffered ≤ 2 × limit`, a sweep
 * reads every socket's buffer once, drops those past `limit` (4008) and restarts the sums.
 * uWS maxBackpressure is 2 × limit + slack, so it never skips; healthy sockets drain to 0,
 * so a sweep runs about once per `limit` bytes published.
 */
export class BufferBound<C> {
  private maxSeen = 0;
  private since = 0;

  constructor(
    /** Every open connection, read at each sweep. */
    private readonly connections: Iterable<C>,
    private readonly socketOf: (conn: C) => Buffered,
    private readonly drop: (conn: C) => void,
  ) {}

  reserve(bytes: number, limit: number): void {
    if (this.maxSeen + this.since + bytes > 2 * limit) this.sweep(limit);
    this.since += bytes;
  }

  /** After direct sends to one socket: true when it is past the bound (caller drops it). */
  checkOne(buffered: number, limit: number): boolean {
    if (buffered > limit) return true;
    this.maxSeen = Math.max(this.maxSeen, buffered - this.since);
    return false;
  }

  private sweep(limit: number): void {
    this.maxSeen = 0;
    this.since = 0;
    for (const conn of this.connections) {
      const buffered = this.socketOf(conn).getBufferedAmount();
      if (buffered > limit) this.drop(conn);
      else if (buffered > this.maxSeen) this.maxSeen = buffered;
    }
  }
}
