import { Redis, type RedisOptions } from 'ioredis';
import type { BrokerStatus } from '../hub/ports.js';
import type { Logger } from '../log.js';
import { DirectReadConnector } from './redis-direct-read.js';
import { quitOrDrop, readPushes, reviveOnEnd } from './redis-link.js';
import { slotOf } from './redis-slots.js';

/** Large resubscribes are split so one command stays a reasonable size for Redis. */
const CHANNELS_PER_COMMAND = 5000;

/** What a shard link tells its cluster broker; every call comes from the link's own callbacks. */
export interface ShardEvents {
  /** Connected (again): the channels this shard owns now, to SSUBSCRIBE before 'ready'. */
  connected(link: ShardLink): readonly string[];
  /** The link's status changed (ready after the resubscribe is acknowledged; lost on close). */
  status(link: ShardLink, status: BrokerStatus): void;
  /** SSUBSCRIBE acknowledged on the current connection: these channels are live here. */
  live(link: ShardLink, channels: readonly string[]): void;
  /** A push; must not throw: the shard's reader calls it straight from the socket. */
  message(channel: string, payload: Buffer): void;
  /**
   * These subscriptions are gone or never took (the server pushed `sunsubscribe` because their
   * slot left this master, or SSUBSCRIBE answered MOVED/ASK/TRYAGAIN): the slot map is stale.
   * An empty list means "some of them, unknown which" (ioredis' MOVED event names none).
   */
  stale(link: ShardLink, channels: readonly string[]): void;
  reconnecting(): void;
  probeMissed(): void;
}

/** ioredis' text for a reply no command was waiting for: an unsolicited push, here `sunsubscribe`. */
const UNSOLICITED = /^Command queue state error\b.*Last reply: (\w+),(.*),(\d+)$/s;

/**
 * The subscriber connection to ONE shard master: sharded pub/sub (SSUBSCRIBE) for the channels
 * whose slots that master owns. Same discipline as RedisBroker's subscriber: no ioredis
 * autoResubscribe (the broker hands the owned set at every connect), a generation counter so
 * replies from a lost connection are ignored, and a liveness probe on a channel of its own slot.
 *
 * Why not ioredis' Cluster `shardedSubscribers` (ioredis issue #1759): it resubscribes from its
 * own copy of the channel set and reports no per-channel loss, so a failover or slot move would
 * be a silent gap for Herald's clients. And when a slot leaves a master, Redis pushes
 * `sunsubscribe` for its channels; ioredis 5.9 has no event for that push and reports it as a
 * "Command queue state error" (pairing it with a pending command if one is in flight). This link
 * reads that error as the push it is, and resets itself on any other queue-state error, since
 * its replies may then be paired with the wrong commands.
 */
export class ShardLink {
  readonly key: string;
  readonly #conn: Redis;
  readonly #events: ShardEvents;
  readonly #log: Logger;
  #status: BrokerStatus = 'connecting';
  #hasBeenReady = false;
  #generation = 0;
  #isUp = false;
  #probeChannel = '';
  #probe: { token: string; timer: NodeJS.Timeout } | null = null;
  #probeSeq = 0;
  #isErrorLogged = false;

  constructor(key: string, options: RedisOptions, events: ShardEvents, log: Logger, reviveDelayMs: number) {
    this.key = key;
    this.#events = events;
    this.#log = log.child({ shard: key });
    this.#conn = new Redis({ ...options, autoResubscribe: false, connectionName: `herald:sub:${process.pid}`, Connector: DirectReadConnector });
    // No #guard closure per message: events.message catches what the hub throws (redis-cluster.ts).
    readPushes(this.#conn, 'smessage', (channel, payload) => this.#onMessage(channel, payload), this.#log);
    this.#wire();
    reviveOnEnd(this.#conn, reviveDelayMs, () => this.#status === 'closed', this.#log);
  }

  get status(): BrokerStatus {
    return this.#status;
  }

  get probeChannel(): string {
    return this.#probeChannel;
  }

  connect(): void {
    this.#conn.connect().catch((err: unknown) => this.#log.debug('shard first connect failed', { err: String(err) }));
  }

  /** SSUBSCRIBE, one command per slot group (Redis refuses channels of several slots in one). */
  subscribe(channels: readonly string[]): void {
    if (!this.#isUp || channels.length === 0) return;
    this.#subscribeBySlot(channels, this.#generation);
  }

  unsubscribe(channels: readonly string[]): void {
    if (!this.#isUp || channels.length === 0) return;
    for (const group of bySlot(channels)) {
      this.#conn.sunsubscribe(...group).catch((err: unknown) => this.#log.debug('sunsubscribe failed', { err: String(err) }));
    }
  }

  /** Moves the probe to `channel` (a channel of a slot this shard owns). */
  setProbeChannel(channel: string): void {
    if (channel === this.#probeChannel) return;
    const previous = this.#probeChannel;
    this.#probeChannel = channel;
    this.#clearProbe();
    if (previous !== '') this.unsubscribe([previous]);
    this.subscribe([channel]);
  }

  /** Publishes a token on the probe channel through `publish`; it must come back within timeoutMs. */
  probeTick(publish: (channel: string, token: string) => Promise<unknown>, timeoutMs: number): void {
    if (this.#status !== 'ready' || this.#probe !== null || this.#probeChannel === '') return;
    const token = String(++this.#probeSeq);
    const timer = setTimeout(() => this.#guard('probe timeout', () => this.#probeMissed(token)), timeoutMs);
    this.#probe = { token, timer };
    publish(this.#probeChannel, token).catch((err: unknown) => {
      // A publisher that cannot reach the shard is not evidence against the subscriber.
      this.#log.debug('probe publish failed', { err: String(err) });
      if (this.#probe?.token === token) this.#clearProbe();
    });
  }

  /** Drops the connection and reconnects (its subscriptions are then reported lost). */
  reset(why: string): void {
    this.#log.warn('resetting the shard link', { why });
    this.#linkLost();
    this.#conn.disconnect(true);
  }

  async close(): Promise<void> {
    this.#generation++;
    this.#isUp = false;
    this.#clearProbe();
    this.#status = 'closed';
    await quitOrDrop(this.#conn, this.#log);
  }

  #wire(): void {
    const conn = this.#conn;
    conn.on('ready', () => this.#guard('shard ready', () => this.#resubscribe()));
    conn.on('close', () => this.#guard('shard close', () => this.#linkLost()));
    conn.on('reconnecting', () => this.#guard('shard reconnecting', () => this.#events.reconnecting()));
    conn.on('moved', () => this.#guard('moved', () => this.#events.stale(this, [])));
    conn.on('error', (err: Error) => this.#guard('shard error', () => this.#onError(err)));
  }

  #onError(err: Error): void {
    const push = UNSOLICITED.exec(err.message);
    if (push !== null && push[1] === 'sunsubscribe') {
      if (push[2] === this.#probeChannel) this.#clearProbe();
      this.#log.info('slot left this shard: subscription dropped by Redis', { channel: push[2] });
      this.#events.stale(this, push[2] === this.#probeChannel ? [] : [push[2]!]);
      return;
    }
    if (push !== null || err.message.startsWith('Command queue state error')) {
      this.reset(`reply out of step with commands (${err.message.slice(0, 120)})`);
      return;
    }
    // One warning per outage; the retries that follow log at debug.
    const log = this.#isErrorLogged ? this.#log.debug : this.#log.warn;
    this.#isErrorLogged = true;
    log('shard connection error', { err: err.message });
  }

  #resubscribe(): void {
    if (this.#status === 'closed') return;
    const generation = ++this.#generation;
    this.#isUp = true;
    this.#isErrorLogged = false;
    const owned = this.#events.connected(this);
    this.#log.info('resubscribing on shard', { channels: owned.length });
    const probe = this.#probeChannel === '' ? [] : [this.#probeChannel];
    this.#subscribeBySlot([...probe, ...owned], generation);
    // Replies come in order, so the PONG follows every SSUBSCRIBE reply. Awaiting the PONG
    // rather than the acks matters: ioredis never settles an SSUBSCRIBE answered MOVED.
    this.#conn.ping().then(
      () => {
        if (generation === this.#generation) this.#setStatus('ready');
      },
      (err: unknown) => this.#log.debug('ping after resubscribe failed', { err: String(err) }),
    );
  }

  #subscribeBySlot(channels: readonly string[], generation: number): void {
    for (const group of bySlot(channels)) {
      this.#conn.ssubscribe(...group).then(
        () => {
          if (generation !== this.#generation) return;
          const live = group.filter((c) => c !== this.#probeChannel);
          if (live.length > 0) this.#guard('live', () => this.#events.live(this, live));
        },
        (err: unknown) => {
          if (generation !== this.#generation) return;
          // ASK (slot migrating), TRYAGAIN, CLUSTERDOWN: the slot map is out of date.
          this.#log.info('ssubscribe refused; refreshing the slot map', { err: String(err), channels: group.length });
          this.#guard('stale', () => this.#events.stale(this, group.filter((c) => c !== this.#probeChannel)));
        },
      );
    }
  }

  #linkLost(): void {
    this.#isUp = false;
    if (this.#status === 'closed') return;
    this.#generation++;
    this.#clearProbe();
    this.#setStatus(this.#hasBeenReady ? 'reconnecting' : 'connecting');
  }

  #onMessage(channel: string, payload: Buffer): void {
    if (channel === this.#probeChannel) {
      if (this.#probe !== null && payload.toString('latin1') === this.#probe.token) this.#clearProbe();
      return;
    }
    this.#events.message(channel, payload);
  }

  #probeMissed(token: string): void {
    if (this.#probe?.token !== token) return;
    this.#probe = null;
    this.#events.probeMissed();
    this.reset('liveness probe missed');
  }

  #clearProbe(): void {
    if (this.#probe !== null) clearTimeout(this.#probe.timer);
    this.#probe = null;
  }

  #setStatus(next: BrokerStatus): void {
    if (next === this.#status || this.#status === 'closed') return;
    const previous = this.#status;
    this.#status = next;
    if (next === 'ready') this.#hasBeenReady = true;
    (previous === 'ready' ? this.#log.warn : this.#log.info)('shard status', { from: previous, to: next });
    this.#events.status(this, next);
  }

  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error(`shard callback failed: ${what}`, { err });
    }
  }
}

/** Channels grouped by slot, each group cut to CHANNELS_PER_COMMAND. */
function bySlot(channels: readonly string[]): string[][] {
  const groups = new Map<number, string[]>();
  for (const c of channels) {
    const slot = slotOf(c);
    const group = groups.get(slot);
    if (group === undefined) groups.set(slot, [c]);
    else group.push(c);
  }
  const out: string[][] = [];
  for (const group of groups.values()) {
    for (let i = 0; i < group.length; i += CHANNELS_PER_COMMAND) out.push(group.slice(i, i + CHANNELS_PER_COMMAND));
  }
  return out;
}
