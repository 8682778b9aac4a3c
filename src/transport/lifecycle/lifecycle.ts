import type { ClientClassConfig } from '../../config/types.js';
import type { RequestFacts } from '../../http/request.js';
import type { SubscribeReady } from '../../hub/hub.js';
import type { Subscriber, TransportName } from '../../hub/subscriber.js';
import type { Route } from '../../rules/router.js';
import type { TransportContext } from '../context.js';
import type { CloseReason } from '../stats.js';
import type { Since } from './resume.js';
import { SessionSet, type Slotted } from './session-set.js';
import { guarded, staggered, timerWithinRange } from './timers.js';

/** What the lifecycle needs of every connection a transport keeps. */
export interface Session extends Slotted {
  open: boolean;
  readonly ip: string;
  readonly cls: ClientClassConfig;
}

/** When a connection ends on its own, and why. `atMs` is whole monotonic ms (see daemon `now`). */
export interface Deadline {
  readonly atMs: number;
  readonly reason: Extract<CloseReason, 'lifetime' | 'token_expired'>;
}

/**
 * The connection lifecycle every transport shares (centrifuge's idea: one owner of
 * subscribe, expiry and drain; the transports only frame and write bytes):
 *
 *   admission (admission.ts) ─► opened() ─► subscribeAll() ─► each route ready ─► live
 *        │                                                                        │
 *        └─ refused: answered there                  deadline(): lifetime ±10% or token ttl
 *                                                                                 │
 *   closed(reason) ◄── client gone / deadline / slow consumer / drain() / reload (revalidate.ts)
 *
 * It keeps the open set (per-class counts are read off it), the per-IP slot release and the open/close
 * counters, so no transport can forget one of them; transports keep only their framing,
 * their socket writes and their backpressure.
 */
export class ConnectionLifecycle<S extends Session> {
  readonly sessions = new SessionSet<S>();
  /** Set by drain(): new requests are sent elsewhere, each transport in its own way. */
  draining = false;

  constructor(
    private readonly ctx: TransportContext,
    readonly transport: TransportName,
    /** Whole monotonic milliseconds. */
    readonly now: () => number,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Open sessions per client class, counted when the metrics scrape asks (a walk of the open
   * set) rather than kept up to date with two map updates per connection and per poll cycle.
   */
  countsByClass(): ReadonlyMap<string, number> {
    const counts = new Map<string, number>();
    for (const session of this.sessions) {
      const name = session.cls.name;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    return counts;
  }

  classify(facts: RequestFacts): ClientClassConfig {
    const classifier = this.ctx.classifier;
    return classifier.classify(facts.query.get(classifier.param) ?? '', facts.userAgent);
  }

  /** The class lifetime with ±10% jitter, so connections opened together do not all reconnect together. */
  lifetimeEnd(cls: ClientClassConfig): number {
    return Math.floor(this.now() + cls.lifetimeMs * (0.9 + Math.random() * 0.2));
  }

  /** The token's expiry on the monotonic clock (Infinity for none). */
  tokenEnd(ttlMs: number): number {
    return ttlMs === Infinity ? Infinity : Math.floor(this.now() + ttlMs);
  }

  /** Whichever comes first of the jittered lifetime and the token expiry. */
  deadline(cls: ClientClassConfig, ttlMs: number): Deadline {
    const lifetime = this.lifetimeEnd(cls);
    const token = this.tokenEnd(ttlMs);
    return token < lifetime ? { atMs: token, reason: 'token_expired' } : { atMs: lifetime, reason: 'lifetime' };
  }

  opened(session: S): void {
    this.sessions.add(session);
    this.ctx.stats.connectionOpened(this.transport, session.cls.name);
  }

  /**
   * The one bookkeeping step of every close: marks the session closed, releases its IP slot
   * and counts it. False when it was closed already (abort, end and drain can race); the
   * caller then does nothing more.
   */
  closed(session: S, reason: CloseReason): boolean {
    if (!session.open) return false;
    session.open = false;
    this.sessions.delete(session);
    this.ctx.limiter.release(session.ip);
    this.ctx.stats.connectionClosed(this.transport, reason);
    return true;
  }

  /** authorize → subscribe: every route, each reporting to `ready` once live (possibly at once). */
  subscribeAll(sub: Subscriber & Session, routes: readonly Route[], since: Since, ready: SubscribeReady): void {
    for (const route of routes) {
      // A synchronous ready can end the connection (a slow consumer on its first write).
      if (!sub.open) return;
      this.ctx.hub.subscribe(sub, route, since, ready);
    }
  }

  unsubscribeAll(sub: Subscriber, routes: readonly Route[]): void {
    for (const route of routes) this.ctx.hub.unsubscribe(sub, route);
  }

  /** A guarded one-shot timer at monotonic `atMs`; null past setTimeout's range (the tick covers those). */
  timerAt(what: string, atMs: number, fn: () => void): NodeJS.Timeout | null {
    return timerWithinRange(this.ctx.log, what, atMs - this.now(), fn);
  }

  /** A guarded, unref'd periodic tick. */
  every(what: string, ms: number, fn: () => void): NodeJS.Timeout {
    const t = setInterval(guarded(this.ctx.log, what, fn), ms);
    t.unref();
    return t;
  }

  /** A guarded end-of-turn callback. */
  defer(what: string, fn: () => void): void {
    setImmediate(guarded(this.ctx.log, what, fn));
  }

  /** Stops admitting, then ends every open session through `end`, spread over `windowMs`. */
  drain(windowMs: number, end: (session: S) => void): Promise<void> {
    this.draining = true;
    return staggered(this.ctx.log, [...this.sessions], windowMs, end);
  }
}
