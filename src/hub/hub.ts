import { carriedEventName } from '../encode/event-name.js';
import type { Route } from '../rules/router.js';
import { guardedScheduler, InterestTracker, type Scheduler } from './interest.js';
import { PreparedMessage } from './message.js';
import type { BrokerHandler, BrokerStatus } from './ports.js';
import type { ChannelState, DurableResume, Ready, ReadyCallback, SubscribeReady } from './channel-state.js';
import { parseNotification } from './durable-notification.js';
import { DurableChannels } from './durable-channels.js';
import { keyDigest, payloadDigest, streamCheck, WINDOW, windowFingerprint } from './fingerprint.js';
import { formatHead, formatMessageId, TOLERANCE_DS, toDs, type Position } from './position.js';
import { resolveResume } from './resume.js';
import type { Subscriber } from './subscriber.js';
import { SubscriberList } from './subscriber-list.js';

export { DROP_REASONS, type DropReason, type HubOptions, type HubStats } from './hub-options.js';
import type { HubOptions } from './hub-options.js';

/**
 * Channel → local subscribers. Owns message ids and history coverage; the single place a
 * broker message becomes a PreparedMessage. Implements BrokerHandler (broker → hub) and
 * receives interest edges (hub → broker) so it can forget a channel when its linger ends.
 */
export type { Ready, ReadyCallback, SubscribeReady } from './channel-state.js';

export class Hub implements BrokerHandler {
  /**
   * Keyed by client channel AND Redis channel: after a reload remaps a channel, the old
   * mapping lingers apart from the new one instead of capturing its subscribers.
   */
  private readonly channels = new Map<string, ChannelState>();
  private readonly byRedis = new Map<string, ChannelState[]>();
  private seq = 0;
  private lastHead: { readonly seq: number; readonly ds: number; readonly text: string } = { seq: -1, ds: -1, text: '' };
  private subscriptionCount = 0;
  private sampleCountdown: number;
  private o: HubOptions;
  /** Refcount and linger per Redis channel; its edges come back to `edges` below. */
  private readonly interest: InterestTracker;
  /** The injected scheduler with every callback guarded: a throw is logged, never fatal. */
  private readonly scheduler: Scheduler;
  private readonly durable: DurableChannels | null;

  constructor(options: HubOptions) {
    this.o = options;
    this.scheduler = guardedScheduler(options.scheduler, (err, what) =>
      options.log.error(`hub ${what} failed`, { err: err instanceof Error ? err : new Error(String(err)) }),
    );
    this.interest = new InterestTracker(this.edges, this.scheduler);
    this.sampleCountdown = options.latencySampleEvery;
    this.durable = options.durable === null ? null : new DurableChannels(this.durableHost(), options.durable);
  }

  /** A config reload: new size bounds apply to the next message and the next replay. */
  setLimits(limits: { readonly maxMessageBytes: number; readonly replayMax: number }): void {
    this.o = { ...this.o, ...limits };
  }

  get epoch(): string {
    return this.o.epoch;
  }

  /** This process in positions (position.ts). */
  get tag(): string {
    return this.o.tag;
  }

  /**
   * The position "everything on these channels up to now": the id of the newest message kept
   * on them (locatable by other processes) when every channel was covered before it, else a
   * head of this process's own sequence (exact here, resolved by time elsewhere).
   */
  head(routes: readonly Route[] = []): string {
    let newest: PreparedMessage | null = null;
    let coveredFrom = 0;
    for (const route of routes) {
      const coverage = this.o.history.coverage(route.key);
      const m = coverage === null ? null : coverage.newest;
      if (m !== null && (newest === null || m.seq > newest.seq)) newest = m;
      coveredFrom = Math.max(coveredFrom, coverage === null ? Infinity : coverage.coveredFrom);
    }
    if (newest !== null && newest.seq > coveredFrom) return newest.id;
    const ds = toDs(this.o.wallClock());
    // Every poll answer and stream start asks for it: format once per (seq, decisecond).
    if (this.lastHead.seq !== this.seq || this.lastHead.ds !== ds) this.lastHead = { seq: this.seq, ds, text: formatHead(this.seq, ds, this.o.tag) };
    return this.lastHead.text;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  get subscriptions(): number {
    return this.subscriptionCount;
  }

  isLive(route: Route): boolean {
    return this.channels.get(route.key)?.live === true;
  }

  /**
   * Adds `sub` to `route.channel`. `ready` is called once the broker subscription is live
   * (synchronously when it already is), with the replay after `since` or a reset; the
   * subscriber is in the live set from that call on. Returns nothing: undo with unsubscribe().
   */
  subscribe(sub: Subscriber, route: Route, since: Position | null, ready: SubscribeReady): void {
    const key = route.key;
    let state = this.channels.get(key);
    if (state === undefined) {
      state = {
        key, keyHash: keyDigest(key), route, subscribers: new SubscriberList(), coverage: null, pending: [], live: false, gap: false, window: [],
        ck: streamCheck(route.redisChannel), lastStreamId: null, streamEpoch: null, resuming: [], healQueue: null,
      };
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
    if (state.live) this.complete(state, sub, route, since, ready);
    else state.pending.push({ sub, route, since, ready });
  }

  /** A reload kept this mapping but gave it a new rule: later messages follow the new rule. */
  updateRoute(route: Route): void {
    const state = this.channels.get(route.key);
    if (state !== undefined) state.route = route;
  }

  unsubscribe(sub: Subscriber, route: Route): void {
    const state = this.channels.get(route.key);
    if (state === undefined) return;
    let removed = state.subscribers.delete(sub);
    const resume = removed ? undefined : state.resuming.find((r) => r.sub === sub && !r.cancelled);
    if (resume !== undefined) {
      resume.cancelled = true;
      removed = true;
    }
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

  /**
   * Like replay(), for a subscriber that joins its live set inside `done`: synchronous for
   * positions history answers in memory, after one stream read for a durable channel's own
   * position (messages arriving meanwhile are in the replay, never lost or doubled).
   */
  resume(route: Route, since: Position | null, done: ReadyCallback): void {
    const state = this.channels.get(route.key);
    if (state === undefined) done(this.replay(route, since));
    else this.resumeState(state, since, null, done);
  }

  /** What a subscriber joining `route` now has missed since `since`. The route must be live. */
  replay(route: Route, since: Position | null): Ready {
    const state = this.channels.get(route.key);
    if (state !== undefined) return this.replayState(state, since);
    const position = this.head(route.alone);
    if (since === null) return { replay: [], reset: null, position };
    return { replay: [], reset: since.kind === 'invalid' ? 'invalid' : 'not_covered', position };
  }

  /** replay() of a channel already looked up (every subscribe's, from complete()). */
  private replayState(state: ChannelState, since: Position | null): Ready {
    const position = this.head(state.route.alone);
    if (since === null) return { replay: [], reset: null, position };
    const wallMs = this.o.wallClock();
    const context = { history: this.o.history, tag: this.o.tag, seq: this.seq, nowMs: this.o.clock(), nowDs: toDs(wallMs), max: this.o.replayMax };
    const r = resolveResume(context, state.key, state.route.rule.history, since);
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
    // A durable notification on a plain rule is simply its payload (the header is stripped).
    const note = payload[0] === 0x1e ? parseNotification(payload) : null;
    const body = note === null ? payload : note.body;
    const text = body.toString('utf8');
    const now = this.o.clock();
    const ds = toDs(this.o.wallClock());
    const seq = ++this.seq;
    let digest = -1;
    for (let g = 0; g < group.length; g++) {
      const state = group[g]!;
      if (!state.live) continue;
      if (this.isDurable(state)) {
        this.durable!.onMessage(state, note, payload, text, seq, now, ds);
        continue;
      }
      const event = this.eventOf(state, text);
      if (event === null) continue;
      if (digest < 0) digest = payloadDigest(body);
      const window = state.window;
      window.push(digest);
      const fp = windowFingerprint(state.keyHash, window);
      const windowLength = window.length;
      if (windowLength === WINDOW) window.shift();
      const id = formatMessageId(fp, ds, this.o.tag, seq);
      const message = new PreparedMessage(state.route.channel, seq, id, text, state.route.rule.payload === 'json', event, now, fp, ds, windowLength, digest);
      this.fanOut(state, message, now);
    }
    if (--this.sampleCountdown <= 0) {
      this.sampleCountdown = this.o.latencySampleEvery;
      // Transports flush when this callback returns, or behind WebSocket frames in the check phase
      // (FlushQueue); this runs after them, in the check phase.
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
      state.coverage = null;
      this.o.history.uncover(state.key);
    }
  }

  /** Messages are being lost from now on: the next goLive resets live subscribers. */
  private loseCoverage(state: ChannelState): void {
    if (!state.live) return;
    state.live = false;
    state.gap = state.subscribers.size > 0;
    state.coverage = null;
    this.o.history.uncover(state.key);
  }

  /** Coverage starts now: a fresh seq, so no position issued before can claim it. */
  private goLive(state: ChannelState): void {
    state.live = true;
    state.window = [];
    state.coverage = this.o.history.cover(state.key, ++this.seq, toDs(this.o.wallClock()));
    if (this.isDurable(state) && state.lastStreamId === null) this.durable!.describe(state);
    if (state.gap && this.isDurable(state) && state.lastStreamId !== null) {
      state.gap = false;
      this.durable!.heal(state);
    } else if (state.gap) {
      state.gap = false;
      const position = this.head(state.route.alone);
      state.subscribers.resetAll(state.route.channel, 'broker_gap', position);
    }
    const pending = state.pending;
    state.pending = [];
    for (const p of pending) this.complete(state, p.sub, p.route, p.since, p.ready);
  }

  private isDurable(state: ChannelState): boolean {
    return this.o.durable !== null && state.route.rule.history.store === 'redis';
  }

  /** The SSE event name from a JSON payload, '' for text; null drops an invalid JSON payload. */
  private eventOf(state: ChannelState, text: string): string | null {
    if (state.route.rule.payload !== 'json') return '';
    const parsed = parseJson(text);
    if (parsed !== INVALID) return carriedEventName(parsed);
    this.o.stats.dropped('invalid_json');
    return null;
  }

  private fanOut(state: ChannelState, message: PreparedMessage, now: number): void {
    if (state.coverage !== null) this.o.history.append(state.coverage, message, state.route.rule.history, now);
    state.subscribers.deliverAll(message);
  }

  private resumeState(state: ChannelState, since: Position | null, sub: Subscriber | null, done: ReadyCallback, attempt = 0): void {
    if (this.readsStream(state, since)) this.durable!.resume(state, since, sub, done);
    else if (attempt < AHEAD_ATTEMPTS && this.isAhead(since)) this.waitForAhead(state, since, sub, done, attempt);
    else done(this.replayState(state, since));
  }

  /** A durable channel's own position: the resume reads the channel's stream in Redis. */
  private readsStream(state: ChannelState, since: Position | null): since is Position & { kind: 'stream' } {
    return since?.kind === 'stream' && this.isDurable(state) && state.live;
  }

  /** Whether resumeState() would answer synchronously from memory (its first attempt). */
  private answersNow(state: ChannelState, since: Position | null): boolean {
    return !this.readsStream(state, since) && !this.isAhead(since);
  }

  /**
   * Another process's message id that is recent but not (yet) in our index: that process may
   * simply have received it first (event-loop lag). Waiting up to the tolerance for it to
   * arrive here turns a reset (and the duplicates a lagging live stream would bring after it)
   * into an exact resume.
   */
  private isAhead(since: Position | null): boolean {
    return since?.kind === 'message' && since.tag !== this.o.tag && this.o.history.locate(since.fp) === null && since.ds >= toDs(this.o.wallClock()) - TOLERANCE_DS;
  }

  private waitForAhead(state: ChannelState, since: Position | null, sub: Subscriber | null, done: ReadyCallback, attempt: number): void {
    // Registered like a durable resume so unsubscribe() can cancel it.
    const waiting: DurableResume = { sub, queue: [], overflow: false, cancelled: false, waitFor: null, finish: null };
    state.resuming.push(waiting);
    // The hub's scheduler guards the callback (a throw is logged, never fatal).
    this.scheduler.setTimeout(() => {
      state.resuming = state.resuming.filter((x) => x !== waiting);
      if (!waiting.cancelled) this.resumeState(state, since, sub, done, attempt + 1);
    }, AHEAD_RETRY_MS);
  }

  private durableHost(): ConstructorParameters<typeof DurableChannels>[0] {
    return {
      options: () => this.o,
      nextSeq: () => ++this.seq,
      head: (routes) => this.head(routes),
      eventOf: (state, text) => this.eventOf(state, text),
      fanOut: (state, message, now) => this.fanOut(state, message, now),
      isCurrent: (state) => this.channels.get(state.key) === state && state.live,
    };
  }

  /**
   * Replay (or reset), then the live set. A position history answers in memory, the usual case
   * (every poll cycle's), is answered here without a closure; the rest waits in resumeState().
   */
  private complete(state: ChannelState, sub: Subscriber, route: Route, since: Position | null, ready: SubscribeReady): void {
    if (this.answersNow(state, since)) return this.join(state, sub, route, ready, this.replayState(state, since));
    this.resumeState(state, since, sub, (r) => this.join(state, sub, route, ready, r));
  }

  private join(state: ChannelState, sub: Subscriber, route: Route, ready: SubscribeReady, r: Ready): void {
    state.subscribers.add(sub);
    ready(r, route);
  }
}

const INVALID = Symbol('invalid');
/** A position ahead of this process is re-checked every 50 ms for up to the tolerance (2 s). */
const AHEAD_RETRY_MS = 50;
const AHEAD_ATTEMPTS = (TOLERANCE_DS * 100) / AHEAD_RETRY_MS;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return INVALID;
    throw err;
  }
}

