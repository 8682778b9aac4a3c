import type { WebSocket } from 'uWebSockets.js';
import type { ClientClassConfig } from '../config/types.js';
import type { RequestFacts } from '../http/request.js';
import type { Position } from '../hub/position.js';
import type { Subscriber } from '../hub/subscriber.js';
import type { Route } from '../rules/router.js';
import type { Session } from './lifecycle/lifecycle.js';
import type { CloseReason } from './stats.js';

/**
 * "No expiry" as the largest small integer: times here are whole ms of performance.now(),
 * kept as small integers so V8 stores them inside the object (Infinity would box a heap
 * number per field per socket). 2^30 ms is 12 days of process uptime.
 */
export const NEVER = 2 ** 30 - 1;

/**
 * The topic group a subscription belongs to, as leaving it needs it (TopicGroup in
 * ws-topics.ts implements it; declared here so the two files do not import each other).
 */
export interface SubGroup extends Subscriber {
  readonly topic: string;
  readonly route: Route;
  readonly members: ReadonlySet<WsConn>;
  addMember(conn: WsConn): void;
  deleteMember(conn: WsConn): void;
  pending: PendingJoin[];
  /** When the group was last found unused (TopicGroups); -1 while it is not listed as unused. */
  unusedSinceMs: number;
  /** Sockets whose resume reads a durable channel's stream (issue 10): the group stays meanwhile. */
  resuming: number;
}

export interface SocketSub {
  readonly route: Route;
  readonly id: string | null;
  state: 'auth' | 'pending' | 'live';
  group: SubGroup | null;
  /** Monotonic ms when the token behind this subscription expires (NEVER: public). */
  expiresAtMs: number;
}

export interface WsData {
  readonly conn: WsConn;
}

/** One WebSocket: its subscriptions, timers and counters; the transport owns the logic. */
export class WsConn implements Session {
  ws: WebSocket<WsData> | null = null;
  open = false;
  sessionSlot = -1;
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
    // One channel, the usual upgrade: no Set and spread to collapse duplicates (~0.2 µs of a connect).
    const unique = channels.length === 1 ? channels : [...new Set(channels)];
    this.initial = channels.length === 0 ? null : { channels: unique, since: facts.query.get('since') };
  }

  find(channel: string): SocketSub | undefined {
    for (const sub of this.subs) if (sub.route.channel === channel) return sub;
    return undefined;
  }

  /** Appends `sub` in a copy one longer, sized exactly (spread and push both reserve spare slots). */
  add(sub: SocketSub): void {
    const next = new Array<SocketSub>(this.subs.length + 1);
    for (let i = 0; i < this.subs.length; i++) next[i] = this.subs[i]!;
    next[this.subs.length] = sub;
    this.subs = next;
  }

  /** Removes `sub`; false when it was no longer there. */
  remove(sub: SocketSub): boolean {
    if (!this.subs.includes(sub)) return false;
    this.subs = this.subs.filter((s) => s !== sub);
    return true;
  }
}

/** A socket waiting for its channel to be live, with where it resumes from. */
export interface PendingJoin {
  readonly conn: WsConn;
  readonly sub: SocketSub;
  readonly since: Position | null;
}
