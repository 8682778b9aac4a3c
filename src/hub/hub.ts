import type { Logger } from '../log.js';
import type { Route } from '../rules/router.js';
import type { InterestTracker } from './interest.js';
import { PreparedMessage } from './message.js';
import type { Broker, BrokerHandler, BrokerStatus, DurableRead, DurableStore, History } from './ports.js';
import { parseNotification, replaySeq, streamIdOf, type Notification } from './durable.js';
import { payloadDigest, streamCheck, WINDOW, windowFingerprint } from './fingerprint.js';
import { compareStreamIds, formatHead, formatMessageId, formatStreamPosition, toDs, type Position } from './position.js';
import { resolveResume } from './resume.js';
import type { ResetReason, Subscriber } from './subscriber.js';
import { isSafeEventName } from '../encode/sse.js';

/** What the hub counts; implemented by metrics/ (type-only dependency). */
export interface HubStats {
  messageReceived(): void;
  dropped(reason: 'invalid_json' | 'oversize' | 'not_durable', count?: number): void;
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
  /** Payload digests of the last WINDOW−1 messages kept since coverage started (fingerprint.ts). */
  window: number[];
  /** Durable channels: which stream (position.ts), and the last stream id and life delivered. */
  readonly ck: string;
  lastStreamId: string | null;
  streamEpoch: string | null;
  /** Resumes reading the stream; live messages meanwhile are queued into each (bounded). */
  resuming: DurableResume[];
  /** Raw notifications held while a heal reads the gap (bounded); null when not healing. */
  healQueue: Buffer[] | null;
}

/**
 * A resume served from a durable channel's stream. Messages arriving while the read is in
 * flight are queued (up to replayMax, past that the resume is `evicted`) and deduplicated by
 * stream id against what the read returned (mercure's live queue during history replay).
 */
interface DurableResume {
  readonly sub: Subscriber | null;
  readonly queue: PreparedMessage[];
  overflow: boolean;
  cancelled: boolean;
}

/** How often a heal retries a read while the store's own connection comes back. */
const HEAL_ATTEMPTS = 20;
const HEAL_RETRY_MS = 250;

export interface HubOptions {
  readonly broker: Broker;
  readonly history: History;
  readonly interest: InterestTracker;
  readonly epoch: string;
  /** This process in positions (position.ts): 4 × [a-z0-9]. */
  readonly tag: string;
  /** Monotonic milliseconds (performance.now in production). */
  readonly clock: () => number;
  /** Wall-clock milliseconds (Date.now): receive times other processes compare (position.ts). */
  readonly wallClock: () => number;
  readonly log: Logger;
  readonly stats: HubStats;
  readonly maxMessageBytes: number;
  readonly replayMax: number;
  /** Every Nth message is timed from broker ingress to the end of its fan-out turn. */
  readonly latencySampleEvery: number;
  /** Durable channels' history (Redis Streams); null on the memory broker, where `store: redis` is the in-process history. */
  readonly durable: DurableStore | null;
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

  constructor(options: HubOptions) {
    this.o = options;
    this.sampleCountdown = options.latencySampleEvery;
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
      const key = stateKey(route);
      const m = this.o.history.newest(key);
      if (m !== null && (newest === null || m.seq > newest.seq)) newest = m;
      coveredFrom = Math.max(coveredFrom, this.o.history.coverage(key)?.coveredFrom ?? Infinity);
    }
    if (newest !== null && newest.seq > coveredFrom) return newest.id;
    return formatHead(this.seq, toDs(this.o.wallClock()), this.o.tag);
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
      state = {
        key, route, subscribers: new Set(), pending: [], live: false, gap: false, window: [],
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
    this.o.interest.acquire(route.redisChannel);
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
    this.o.interest.release(redisChannel, state.route.rule.lingerMs);
    // Interest that came and went within one turn emits no edge at all, so no unsubscribe
    // edge will ever forget this state: drop it here, or client-chosen names would pile up.
    if (!state.live && state.subscribers.size === 0 && state.pending.length === 0 && !this.o.interest.isDesired(redisChannel)) {
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
    const state = this.channels.get(stateKey(route));
    if (state === undefined) done(this.replay(route, since));
    else this.resumeState(state, since, null, done);
  }

  /** What a subscriber joining `route` now has missed since `since`. The route must be live. */
  replay(route: Route, since: Position | null): Ready {
    const position = this.head([route]);
    const state = this.channels.get(stateKey(route));
    if (since === null) return { replay: [], reset: null, position };
    if (state === undefined) return { replay: [], reset: since.kind === 'invalid' ? 'invalid' : 'not_covered', position };
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
        this.onDurable(state, note, payload, text, seq, now, ds);
        continue;
      }
      const event = this.eventOf(state, text);
      if (event === null) continue;
      if (digest < 0) digest = payloadDigest(body);
      const window = state.window;
      window.push(digest);
      const fp = windowFingerprint(state.key, window);
      const windowLength = window.length;
      if (windowLength === WINDOW) window.shift();
      const id = formatMessageId(fp, ds, this.o.tag);
      const message = new PreparedMessage(state.route.channel, seq, id, text, state.route.rule.payload === 'json', event, now, fp, ds, windowLength, digest);
      this.fanOut(state, message, now);
    }
    if (--this.sampleCountdown <= 0) {
      this.sampleCountdown = this.o.latencySampleEvery;
      // Transports flush in this turn's check phase; this runs after them.
      setImmediate(() => this.o.stats.observeLatency((this.o.clock() - now) / 1000));
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
    for (const state of this.channels.values()) {
      if (!state.live) continue;
      state.live = false;
      state.gap = state.subscribers.size > 0;
      this.o.history.uncover(state.key);
    }
  }

  desiredChannels(): Iterable<string> {
    return this.o.interest.desired();
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

  /** Coverage starts now: a fresh seq, so no position issued before can claim it. */
  private goLive(state: ChannelState): void {
    state.live = true;
    state.window = [];
    this.o.history.cover(state.key, ++this.seq, toDs(this.o.wallClock()));
    if (this.isDurable(state) && state.lastStreamId === null) this.o.durable!.describe(state.route.redisChannel, state.route.rule.history);
    if (state.gap && this.isDurable(state) && state.lastStreamId !== null) {
      state.gap = false;
      this.heal(state);
    } else if (state.gap) {
      state.gap = false;
      const position = this.head([state.route]);
      for (const sub of state.subscribers) sub.reset(state.route.channel, 'broker_gap', position);
    }
    const pending = state.pending;
    state.pending = [];
    for (const p of pending) this.complete(state, p);
  }

  private isDurable(state: ChannelState): boolean {
    return this.o.durable !== null && state.route.rule.history.store === 'redis';
  }

  /** The SSE event name from a JSON payload, '' for text; null drops an invalid JSON payload. */
  private eventOf(state: ChannelState, text: string): string | null {
    if (state.route.rule.payload !== 'json') return '';
    const parsed = parseJson(text);
    if (parsed !== INVALID) return eventOf(parsed);
    this.o.stats.dropped('invalid_json');
    return null;
  }

  private fanOut(state: ChannelState, message: PreparedMessage, now: number): void {
    this.o.history.append(state.key, message, state.route.rule.history, now);
    for (const sub of state.subscribers) sub.deliver(message);
  }

  /**
   * A message on a durable channel. A plain PUBLISH there is dropped and counted
   * (`not_durable`), never delivered: it is not in the stream, so a client resuming across
   * it could never get it, and delivering it to some clients only would be a silent loss for
   * the others. While a heal reads the gap, notifications wait in order (bounded).
   */
  private onDurable(state: ChannelState, note: Notification | null, raw: Buffer, text: string, seq: number, now: number, ds: number): void {
    if (note === null) {
      this.o.stats.dropped('not_durable');
      return;
    }
    if (state.healQueue !== null) {
      if (state.healQueue === OVERFLOW) return;
      if (state.healQueue.length < this.o.replayMax) state.healQueue.push(raw);
      else state.healQueue = OVERFLOW;
      return;
    }
    if (state.lastStreamId !== null && state.streamEpoch === note.epoch && compareStreamIds(note.id, state.lastStreamId) <= 0) return;
    const message = this.durableMessage(state, note, text, seq, now, ds);
    state.lastStreamId = note.id;
    state.streamEpoch = note.epoch;
    if (message === null) return;
    for (const r of state.resuming) {
      if (r.queue.length < this.o.replayMax) (r.queue as PreparedMessage[]).push(message);
      else r.overflow = true;
    }
    this.fanOut(state, message, now);
  }

  /** Durable messages are indexed by their full id: exact on every process. */
  private durableMessage(state: ChannelState, note: Notification, text: string, seq: number, now: number, ds: number): PreparedMessage | null {
    const event = this.eventOf(state, text);
    if (event === null) return null;
    const id = formatStreamPosition(note.id, note.epoch, state.ck);
    return new PreparedMessage(state.route.channel, seq, id, text, state.route.rule.payload === 'json', event, now, id, ds, WINDOW, 0);
  }

  private resumeState(state: ChannelState, since: Position | null, sub: Subscriber | null, done: ReadyCallback): void {
    if (since?.kind !== 'stream' || !this.isDurable(state) || !state.live) {
      done(this.replay(state.route, since));
      return;
    }
    const isSameStream = since.ck === state.ck;
    // Another channel's durable id: Redis's one clock orders the two streams; read from its ms.
    const afterId = isSameStream ? since.id : `${since.ms - 1}-18446744073709551615`;
    const resume: DurableResume = { sub, queue: [], overflow: false, cancelled: false };
    state.resuming.push(resume);
    void this.o.durable!.read(state.route.redisChannel, afterId, isSameStream ? since.epoch : null, this.o.replayMax).then((r) => {
      state.resuming = state.resuming.filter((x) => x !== resume);
      if (resume.cancelled) return;
      this.guard(() => done(this.durableReady(state, since, afterId, resume, r)));
    });
  }

  private durableReady(state: ChannelState, since: Position & { kind: 'stream' }, afterId: string, resume: DurableResume, r: DurableRead): Ready {
    const position = this.head([state.route]);
    if (!r.ok) return { replay: [], reset: r.reason === 'unavailable' ? 'not_covered' : r.reason, position };
    if (resume.overflow) return { replay: [], reset: 'evicted', position };
    const first = r.entries[0];
    if (since.ck !== state.ck && first !== undefined && Number(first.id.slice(0, first.id.indexOf('-'))) === since.ms) {
      return { replay: [], reset: 'not_covered', position }; // same millisecond on two streams: no order
    }
    const replay: PreparedMessage[] = [];
    let last = afterId;
    const now = this.o.clock();
    for (const e of r.entries) {
      const id = formatStreamPosition(e.id, r.epoch, state.ck);
      const kept = this.o.history.locate(id);
      const text = e.payload.toString('utf8');
      const m = kept !== null && kept !== 'ambiguous' ? kept.message : this.durableMessage(state, { epoch: r.epoch, id: e.id, body: e.payload }, text, replaySeq(e.id), now, 0);
      last = e.id;
      if (m !== null) replay.push(m);
    }
    for (const m of resume.queue) if (compareStreamIds(streamIdOf(m.id), last) > 0) replay.push(m);
    return { replay, reset: null, position };
  }

  /**
   * Coverage came back after a link loss: read what the stream got meanwhile, from the last id
   * delivered, instead of a broker_gap reset. Notifications arriving during the read wait in
   * healQueue and are applied after it, deduplicated by stream id.
   */
  private heal(state: ChannelState, attempt = 1): void {
    if (attempt === 1) state.healQueue = [];
    void this.o.durable!.read(state.route.redisChannel, state.lastStreamId!, state.streamEpoch, this.o.replayMax).then((r) => this.guard(() => {
      if (this.channels.get(state.key) !== state || !state.live) {
        state.healQueue = null; // forgotten, or the link dropped again: the next coverage heals
        return;
      }
      if (!r.ok && r.reason === 'unavailable' && attempt < HEAL_ATTEMPTS) {
        setTimeout(() => this.guard(() => this.heal(state, attempt + 1)), HEAL_RETRY_MS);
        return;
      }
      const queue = state.healQueue;
      state.healQueue = null;
      if (!r.ok || queue === OVERFLOW) {
        const position = this.head([state.route]);
        for (const sub of state.subscribers) sub.reset(state.route.channel, 'broker_gap', position);
        state.lastStreamId = null;
      } else {
        const now = this.o.clock();
        const ds = toDs(this.o.wallClock());
        for (const e of r.entries) this.onDurable(state, { epoch: r.epoch, id: e.id, body: e.payload }, e.payload, e.payload.toString('utf8'), ++this.seq, now, ds);
      }
      for (const raw of queue ?? []) {
        const note = parseNotification(raw);
        if (note !== null) this.onDurable(state, note, raw, note.body.toString('utf8'), ++this.seq, this.o.clock(), toDs(this.o.wallClock()));
      }
    }));
  }

  /** Callbacks from the durable store run outside any guard: log instead of crashing. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.log.error('hub callback failed', { err: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  private complete(state: ChannelState, p: Pending): void {
    this.resumeState(state, p.since, p.sub, (ready) => {
      state.subscribers.add(p.sub);
      p.ready(ready);
    });
  }
}

const INVALID = Symbol('invalid');
/** A heal queue that passed its bound: the heal ends in a broker_gap reset. */
const OVERFLOW: Buffer[] = [];

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return INVALID;
    throw err;
  }
}

function eventOf(parsed: unknown): string {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return '';
  const event = (parsed as { event?: unknown }).event;
  return typeof event === 'string' && isSafeEventName(event) ? event : '';
}

/** Client channel names have no spaces (router charset): a space cannot collide. */
function stateKey(route: Route): string {
  return route.redisChannel + ' ' + route.channel;
}
