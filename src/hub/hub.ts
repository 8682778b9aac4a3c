import { carriedEventName } from '../encode/event-name.js';
import type { Logger } from '../log.js';
import type { Route } from '../rules/router.js';
import { guardedScheduler, InterestTracker, type Scheduler } from './interest.js';
import { PreparedMessage } from './message.js';
import type { Broker, BrokerHandler, BrokerStatus, History } from './ports.js';
import { formatPosition, type Position } from './position.js';
import type { ResetReason, Subscriber } from './subscriber.js';

/**
 * Messages the hub discarded: the `reason` label of herald_messages_dropped_total. A dropped
 * slow consumer loses nothing (it resumes from its last id), so it is not a drop.
 */
export const DROP_REASONS = ['invalid_json', 'oversize'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** What the hub counts; implemented by metrics/ (type-only dependency). */
export interface HubStats {
  messageReceived(): void;
  dropped(reason: DropReason, count?: number): void;
  observeLatency(seconds: number): void;
}

/** Result handed to a subscriber once its channel is live. */
export interface Ready {
  /** Messages after `since`, oldest first (empty when no `since` or on reset). */
  readonly replay: readonly PreparedMessage[];
  readonly reset: ResetReason | null;
  /** The head position at that instant: everything up to it was replayed or reset. */
  readonly position: string;
}

export type ReadyCallback = (ready: Ready) => void;

interface Pending {
  readonly sub: Subscriber;
  readonly since: Position | null;
  readonly ready: ReadyCallback;
}

interface ChannelState {
  /** `stateKey(route)`: also the history key. */
  readonly key: string;
  /** Replaced when a reload gives the same mapping a new rule (payload, history, linger). */
  route: Route;
  readonly subscribers: Set<Subscriber>;
  pending: Pending[];
  live: boolean;
  /** The broker link dropped while live: subscribers get a reset when coverage returns. */
  gap: boolean;
}

export interface HubOptions {
  readonly broker: Broker;
  readonly history: History;
  /** Timers and end-of-turn callbacks for the hub's interest tracker (linger, batched edges). */
  readonly scheduler: Scheduler;
  readonly epoch: string;
  /** Monotonic milliseconds (performance.now in production). */
  readonly clock: () => number;
  readonly log: Logger;
  readonly stats: HubStats;
  readonly maxMessageBytes: number;
  readonly replayMax: number;
  /** Every Nth message is timed from broker ingress to the end of its fan-out turn. */
  readonly latencySampleEvery: number;
}

/**
 * Channel → local subscribers. Owns message ids and history coverage; the single place a
 * broker message becomes a PreparedMessage. Implements BrokerHandler (broker → hub) and
 * receives interest edges (hub → broker) so it can forget a channel when its linger ends.
 */
export class Hub implements BrokerHandler {
  /**
   * Keyed by client channel AND Redis channel: after a reload remaps a channel, the old
   * mapping lingers apart from the new one instead of capturing its subscribers.
   */
  private readonly channels = new Map<string, ChannelState>();
  private readonly byRedis = new Map<string, ChannelState[]>();
  private seq = 0;
  private subscriptionCount = 0;
  private sampleCountdown: number;
  private o: HubOptions;
  /** Refcount and linger per Redis channel; its edges come back to `edges` below. */
  private readonly interest: InterestTracker;
  /** The injected scheduler with every callback guarded: a throw is logged, never fatal. */
  private readonly scheduler: Scheduler;

  constructor(options: HubOptions) {
    this.o = options;
    this.scheduler = guardedScheduler(options.scheduler, (err, what) =>
      options.log.error(`hub ${what} failed`, { err: err instanceof Error ? err : new Error(String(err)) }),
    );
    this.interest = new InterestTracker(this.edges, this.scheduler);
    this.sampleCountdown = options.latencySampleEvery;
  }

  /** A config reload: new size bounds apply to the next message and the next replay. */
  setLimits(limits: { readonly maxMessageBytes: number; readonly replayMax: number }): void {
    this.o = { ...this.o, ...limits };
  }

  get epoch(): string {
    return this.o.epoch;
  }

  /** The newest position this process has issued. */
  head(): string {
    return formatPosition(this.o.epoch, this.seq);
  }

  get channelCount(): number {
    return this.channels.size;
  }

  get subscriptions(): number {
    return this.subscriptionCount;
  }

  isLive(route: Route): boolean {
    return this.channels.get(stateKey(route))?.live === true;
  }

  /**
   * Adds `sub` to `route.channel`. `ready` is called once the broker subscription is live
   * (synchronously when it already is), with the replay after `since` or a reset; the
   * subscriber is in the live set from that call on. Returns nothing: undo with unsubscribe().
   */
  subscribe(sub: Subscriber, route: Route, since: Position | null, ready: ReadyCallback): void {
    const key = stateKey(route);
    let state = this.channels.get(key);
    if (state === undefined) {
      state = { key, route, subscribers: new Set(), pending: [], live: false, gap: false };
      this.channels.set(key, state);
      const group = this.byRedis.get(route.redisChannel);
      if (group === undefined) this.byRedis.set(route.redisChannel, [state]);
      else {
        group.push(state);
        // Another client channel already holds this Redis channel live: no edge will come,
        // so this one is live (and covered) from now.
        if (group.some((other) => other.live)) this.goLive(state);
      }
    } else if (state.route.rule !== route.rule) {
      state.route = route;
    }
    this.subscriptionCount++;
    this.interest.acquire(route.redisChannel);
    if (state.live) this.complete(state, { sub, since, ready });
    else state.pending.push({ sub, since, ready });
  }

  /** A reload kept this mapping but gave it a new rule: later messages follow the new rule. */
  updateRoute(route: Route): void {
    const state = this.channels.get(stateKey(route));
    if (state !== undefined) state.route = route;
  }

  unsubscribe(sub: Subscriber, route: Route): void {
    const state = this.channels.get(stateKey(route));
    if (state === undefined) return;
    let removed = state.subscribers.delete(sub);
    if (!removed) {
      const before = state.pending.length;
      state.pending = state.pending.filter((p) => p.sub !== sub);
      removed = state.pending.length !== before;
    }
    if (!removed) return;
    this.subscriptionCount--;
    const redisChannel = state.route.redisChannel;
    this.interest.release(redisChannel, state.route.rule.lingerMs);
    // Interest that came and went within one turn emits no edge at all, so no unsubscribe
    // edge will ever forget this state: drop it here, or client-chosen names would pile up.
    if (!state.live && state.subscribers.size === 0 && state.pending.length === 0 && !this.interest.isDesired(redisChannel)) {
      this.channels.delete(state.key);
      const group = this.byRedis.get(redisChannel)?.filter((s) => s !== state);
      if (group === undefined || group.length === 0) this.byRedis.delete(redisChannel);
      else this.byRedis.set(redisChannel, group);
    }
  }

  /** What a subscriber joining `route` now has missed since `since`. The route must be live. */
  replay(route: Route, since: Position | null): Ready {
    const position = this.head();
    const state = this.channels.get(stateKey(route));
    if (since === null) return { replay: [], reset: null, position };
    if (since.seq < 0) return { replay: [], reset: 'invalid', position };
    if (since.epoch !== this.o.epoch) return { replay: [], reset: 'epoch', position };
    if (since.seq > this.seq) return { replay: [], reset: 'invalid', position };
    if (state === undefined) return { replay: [], reset: 'not_covered', position };
    const rule = state.route.rule;
    const r = this.o.history.replay(state.key, since.seq, rule.history, this.o.clock(), this.o.replayMax);
    return r.ok ? { replay: r.messages, reset: null, position } : { replay: [], reset: r.reason, position };
  }

  // ── BrokerHandler ────────────────────────────────────────────────────────────────

  onMessage(redisChannel: string, payload: Buffer): void {
    const group = this.byRedis.get(redisChannel);
    if (group === undefined) return;
    this.o.stats.messageReceived();
    if (payload.length > this.o.maxMessageBytes) {
      this.o.stats.dropped('oversize');
      return;
    }
    const text = payload.toString('utf8');
    const now = this.o.clock();
    const seq = ++this.seq;
    const id = formatPosition(this.o.epoch, seq);
    for (let g = 0; g < group.length; g++) {
      const state = group[g]!;
      if (!state.live) continue;
      const rule = state.route.rule;
      let event = '';
      if (rule.payload === 'json') {
        const parsed = parseJson(text);
        if (parsed === INVALID) {
          this.o.stats.dropped('invalid_json');
          continue;
        }
        event = carriedEventName(parsed);
      }
      const message = new PreparedMessage(state.route.channel, seq, id, text, rule.payload === 'json', event, now);
      this.o.history.append(state.key, message, rule.history, now);
      for (const sub of state.subscribers) sub.deliver(message);
    }
    if (--this.sampleCountdown <= 0) {
      this.sampleCountdown = this.o.latencySampleEvery;
      // Transports flush in this turn's check phase; this runs after them.
      this.scheduler.defer(() => this.o.stats.observeLatency((this.o.clock() - now) / 1000));
    }
  }

  onLive(redisChannels: readonly string[]): void {
    for (const redisChannel of redisChannels) {
      const group = this.byRedis.get(redisChannel);
      if (group === undefined) continue;
      for (const state of group) {
        if (!state.live) this.goLive(state);
      }
    }
  }

  onStatus(status: BrokerStatus): void {
    if (status === 'ready') return;
    for (const state of this.channels.values()) this.loseCoverage(state);
  }

  onCoverageLost(redisChannels: readonly string[]): void {
    for (const redisChannel of redisChannels) {
      for (const state of this.byRedis.get(redisChannel) ?? []) this.loseCoverage(state);
    }
  }

  desiredChannels(): Iterable<string> {
    return this.interest.desired();
  }

  /** Stops the interest tracker's timers (linger); the process is stopping. */
  close(): void {
    this.interest.close();
  }

  // ── interest edges (InterestTracker → here → broker) ───────────────────────────────

  readonly edges = {
    subscribe: (redisChannels: readonly string[]): void => {
      this.o.broker.subscribe(redisChannels);
    },
    unsubscribe: (redisChannels: readonly string[]): void => {
      for (const redisChannel of redisChannels) this.forget(redisChannel);
      this.o.broker.unsubscribe(redisChannels);
    },
  };

  private forget(redisChannel: string): void {
    const group = this.byRedis.get(redisChannel);
    if (group === undefined) return;
    this.byRedis.delete(redisChannel);
    for (const state of group) {
      this.channels.delete(state.key);
      this.o.history.uncover(state.key);
    }
  }

  /** Messages are being lost from now on: the next goLive resets live subscribers. */
  private loseCoverage(state: ChannelState): void {
    if (!state.live) return;
    state.live = false;
    state.gap = state.subscribers.size > 0;
    this.o.history.uncover(state.key);
  }

  /** Coverage starts now: a fresh seq, so no position issued before can claim it. */
  private goLive(state: ChannelState): void {
    state.live = true;
    this.o.history.cover(state.key, ++this.seq);
    if (state.gap) {
      state.gap = false;
      const position = this.head();
      for (const sub of state.subscribers) sub.reset(state.route.channel, 'broker_gap', position);
    }
    const pending = state.pending;
    state.pending = [];
    for (const p of pending) this.complete(state, p);
  }

  private complete(state: ChannelState, p: Pending): void {
    const ready = this.replay(state.route, p.since);
    state.subscribers.add(p.sub);
    p.ready(ready);
  }
}

const INVALID = Symbol('invalid');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return INVALID;
    throw err;
  }
}

/** Client channel names have no spaces (router charset): a space cannot collide. */
function stateKey(route: Route): string {
  return route.redisChannel + ' ' + route.channel;
}
