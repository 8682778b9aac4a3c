import { openPoll, openStream, openWs, type Frame, type Link, type Request, type Sink, type TransportName } from './transports.js';
import type { HeraldMessage, HeraldOptions, HeraldState, StateEvent, SubscribeOptions, Subscription } from './types.js';

export type { TransportName } from './transports.js';
export type { HeraldMessage, HeraldOptions, HeraldState, StateEvent, SubscribeOptions, Subscription } from './types.js';

/**
 * herald(url, options): one connection to Herald shared by every subscription.
 *
 *   connecting ──open──► live ──drop──► reconnecting ──open──► live …    close() ──► closed
 *
 * Transports are tried in `transports` order (WebSocket, HTTP stream, long-poll). One that
 * fails before it ever opened, or does not open within `openTimeoutMs` (a proxy that refuses
 * upgrades, or holds streamed responses back), hands over to the next at once; the one that
 * works is remembered for the tab's session. A transport that has worked is retried with
 * backoff (full jitter) when it fails, and reconnects at once when the server ends a
 * connection on purpose (drain, lifetime).
 *
 * Exact resume: every channel's position (the last id, `subscribed` or reset position seen
 * for it) is presented on every reconnect, whatever the transport, so Herald replays exactly
 * what was missed or sends a reset, reported through `onReset`.
 */

const OPEN = { ws: openWs, stream: openStream, poll: openPoll };
const TOKEN_ERROR = /^token_/;
const storage = (): Storage | undefined => (typeof sessionStorage === 'object' ? sessionStorage : undefined);

export class Herald implements Sink {
  private readonly base: string;
  private readonly order: TransportName[];
  private readonly opts: HeraldOptions;
  private readonly subs = new Map<string, Set<SubscribeOptions>>();
  /** Channel → the position to resume it from. */
  private readonly pos = new Map<string, string>();
  /** Channels the current link is live on: every position it reports covers them. */
  private readonly live = new Set<string>();
  /** Channels the current link asked for without a position: a reset about that position is meaningless. */
  private fresh = new Set<string>();
  private readonly listeners = new Set<(e: StateEvent) => void>();
  private last: string | undefined;
  private token: string | undefined;
  private link: Link | null = null;
  private idx: number;
  /** The transport that has opened at least once this session: failures then mean "retry", not "fall back". */
  private proven: TransportName | undefined;
  private attempt = 0;
  private openedAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private restartQueued = false;
  private st: HeraldState = 'connecting';
  private readonly key: string;

  constructor(url: string, opts: HeraldOptions = {}) {
    this.opts = opts;
    this.base = new URL(url, typeof location === 'object' ? location.href : undefined).href.replace(/\/$/, '');
    this.order = opts.transports ?? ['ws', 'stream', 'poll'];
    this.key = 'herald:' + this.base + ':' + this.order;
    this.idx = Math.max(0, this.order.indexOf(storage()?.getItem(this.key) as TransportName));
    this.token = opts.token;
    this.schedule();
    if (opts.pauseHidden && typeof document === 'object') document.addEventListener('visibilitychange', this.visibility);
  }

  get state(): HeraldState {
    return this.st;
  }

  get transport(): TransportName {
    return this.order[this.idx]!;
  }

  /** Listens to state changes; returns a function that stops listening. */
  on(event: 'state', fn: (e: StateEvent) => void): () => void {
    if (event === 'state') this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  subscribe(channel: string, handlers: SubscribeOptions): Subscription {
    let set = this.subs.get(channel);
    if (set === undefined) {
      this.subs.set(channel, (set = new Set()));
      if (this.link?.send) this.wsSubscribe(channel);
      else this.restart();
    }
    set.add(handlers);
    return { channel, unsubscribe: () => this.drop(channel, handlers) };
  }

  close(): void {
    this.set('closed');
    this.stop();
    clearTimeout(this.refreshTimer);
    if (typeof document === 'object') document.removeEventListener('visibilitychange', this.visibility);
  }

  private drop(channel: string, handlers: SubscribeOptions): void {
    const set = this.subs.get(channel);
    if (!set?.delete(handlers) || set.size > 0) return;
    this.subs.delete(channel);
    this.pos.delete(channel);
    this.live.delete(channel);
    if (this.link?.send) this.link.send({ type: 'unsubscribe', channel });
    else this.restart();
  }

  /** Stream and poll carry their channel set in the URL: a change means a new request (one per turn). */
  private restart(): void {
    if (this.restartQueued || this.st === 'closed') return;
    this.restartQueued = true;
    queueMicrotask(() => {
      this.restartQueued = false;
      this.connect();
    });
  }

  private paused(): boolean {
    return !!this.opts.pauseHidden && typeof document === 'object' && document.hidden;
  }

  private readonly visibility = (): void => {
    if (this.st === 'closed') return;
    if (this.paused()) {
      this.stop();
      this.set('reconnecting');
    } else if (this.link === null) this.connect();
  };

  private stop(): void {
    clearTimeout(this.timer);
    this.link?.close();
    this.link = null;
    this.live.clear();
  }

  /** Replaces the current link (if any) with a new one on the current transport. */
  private connect(): void {
    this.stop();
    if (this.st === 'closed' || this.subs.size === 0 || this.paused()) return;
    if (this.token === undefined && this.opts.getToken) return void this.refresh();
    const t = this.transport;
    const channels = [...this.subs.keys()];
    this.fresh = new Set(channels.filter((c) => !this.pos.has(c)));
    const r: Request = { base: this.base, channels, since: this.last, token: this.token, params: this.opts.params ?? {} };
    this.openedAt = 0;
    const link = (this.link = OPEN[t](this, r));
    this.timer = setTimeout(() => this.ended(link, false), this.opts.openTimeoutMs ?? 6000);
  }

  opened(link: Link): void {
    if (link !== this.link) return;
    clearTimeout(this.timer);
    this.proven = link.t;
    this.openedAt = Date.now();
    try {
      storage()?.setItem(this.key, link.t);
    } catch (err) {
      // Storage full or blocked (private mode, sandboxed frame): the choice is simply not remembered.
      void err;
    }
    if (link.send) for (const c of this.subs.keys()) this.wsSubscribe(c);
    else for (const c of this.subs.keys()) this.live.add(c);
    this.checkLive();
  }

  private wsSubscribe(channel: string): void {
    const since = this.pos.get(channel);
    if (since === undefined) this.fresh.add(channel);
    else this.fresh.delete(channel);
    this.link!.send!({ type: 'subscribe', channel, since });
  }

  /** Live once every channel is: at once on stream and poll, at the last `subscribed` on WebSocket. */
  private checkLive(): void {
    if (this.openedAt && this.live.size >= this.subs.size) this.set('live');
  }

  frame(link: Link, f: Frame): void {
    if (link !== this.link) return;
    const c = f.channel!;
    const set = this.subs.get(c);
    switch (f.type) {
      case 'message':
        this.pos.set(c, f.id!);
        this.cover(f.id!);
        if (set) for (const s of set) s.onMessage(f as HeraldMessage);
        return;
      case 'subscribed':
        if (!set) return;
        this.live.add(c);
        this.cover(f.position!);
        return this.checkLive();
      case 'reset':
        this.pos.set(c, f.position!);
        this.cover(f.position!);
        // Asked for without a position (a new subscription), only a later gap means anything.
        if (set && (!this.fresh.has(c) || f.reason === 'broker_gap')) for (const s of set) s.onReset?.(c, f.reason!);
        return;
      case 'error':
        if (TOKEN_ERROR.test(f.code!)) return this.ended(link, false, f);
        if (!set || /^(already|not)_sub/.test(f.code!)) return;
        // The subscription is over (refused, or denied after a config reload).
        this.subs.delete(c);
        this.live.delete(c);
        for (const s of set) s.onError?.(f.code!, f.message!);
        this.checkLive();
    }
  }

  cursor(link: Link, cursor: string): void {
    if (link !== this.link) return;
    this.cover(cursor);
    // The next poll presents this cursor for every channel: none is new any more.
    this.fresh.clear();
  }

  /** Everything up to `p` has reached every channel live on this link. */
  private cover(p: string): void {
    this.last = p;
    for (const c of this.live) this.pos.set(c, p);
  }

  ended(link: Link, again: boolean, error?: Frame): void {
    if (link !== this.link) return;
    const lived = this.openedAt > 0;
    this.stop();
    if (this.st === 'closed') return;
    this.set(lived || this.proven ? 'reconnecting' : 'connecting');
    const code = error?.code ?? '';
    if (TOKEN_ERROR.test(code) && this.opts.getToken) return void this.refresh(this.token);
    if (error) for (const set of this.subs.values()) for (const s of set) s.onError?.(code, error.message ?? '');
    // An error answer came from Herald itself: the transport works, falling back would not help.
    if (!lived && !error && this.proven !== link.t) {
      // Never worked here: try the next transport at once; after the last, start over with backoff.
      this.idx = (this.idx + 1) % this.order.length;
      if (this.idx > 0) return this.connect();
    }
    // A connection that held for a second was a success: the backoff starts over. One that
    // opens and drops at once (a server in trouble) keeps backing off.
    if (lived && Date.now() - this.openedAt > 1000) this.attempt = 0;
    if (again || (this.attempt === 0 && lived && !error)) this.connect();
    else this.backoff();
  }

  private backoff(): void {
    const { retryMs = 1000, maxRetryMs = 30000 } = this.opts;
    this.timer = setTimeout(() => this.connect(), Math.random() * Math.min(maxRetryMs, retryMs * 2 ** this.attempt++));
  }

  /**
   * Gets a fresh token, then reconnects with it (positions kept: nothing is lost). `stale` is
   * the token Herald refused: a getToken() that returns it again gets backoff, not a loop.
   * Ahead of expiry (no `stale`), the same token again leaves the connection alone.
   */
  private async refresh(stale?: string): Promise<void> {
    clearTimeout(this.refreshTimer);
    let token: string | undefined;
    try {
      token = await this.opts.getToken!();
    } catch (err) {
      // No token this time: handled below like an unchanged one (retry with backoff).
      void err;
    }
    if (this.st === 'closed') return;
    if (token === undefined || token === (stale ?? this.token)) {
      if (stale !== undefined || this.link === null) this.backoff();
      return;
    }
    this.token = token;
    this.schedule();
    this.connect();
  }

  /** Refreshes a JWT a quarter of its remaining life (at most 30 s) before its `exp`. */
  private schedule(): void {
    const exp = expiry(this.token);
    if (!exp || !this.opts.getToken) return;
    const left = exp - Date.now();
    // Capped: setTimeout fires at once past 2^31-1 ms (a token valid for weeks).
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.min(2 ** 31 - 1, left - Math.min(30000, left / 4)));
  }

  private set(state: HeraldState): void {
    if (state === this.st) return;
    this.st = state;
    for (const fn of this.listeners) fn({ state, transport: this.transport });
  }
}

/** `exp` of a JWT in ms, or 0 when the token is not a readable JWT. */
function expiry(token: string | undefined): number {
  try {
    const part = token!.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    return (JSON.parse(atob(part)) as { exp?: number }).exp! * 1000 || 0;
  } catch (err) {
    return 0;
  }
}

export function herald(url: string, options?: HeraldOptions): Herald {
  return new Herald(url, options);
}
