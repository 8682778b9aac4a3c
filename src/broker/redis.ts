import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BrokerConfig } from '../config/types.js';
import { HeraldError } from '../errors.js';
import type { Broker, BrokerHandler, BrokerStatus } from '../hub/ports.js';
import type { Logger } from '../log.js';
import { DirectReadConnector } from './redis-direct-read.js';
import { connectSingle, linkOptions, quitOrDrop, ReadyGate, readPushes, reviveOnEnd } from './redis-link.js';

/** Counters the daemon binds to metrics; called from the broker's own event callbacks. */
export interface RedisBrokerStats {
  /** Once per reconnect attempt of the subscriber connection. */
  reconnect(): void;
  /** Once per liveness probe not seen back in time (each forces a reconnect). */
  probeMissed(): void;
}

/** Large resubscribes are split so one command stays a reasonable size for Redis. */
const CHANNELS_PER_COMMAND = 5000;

/**
 * Redis pub/sub for the whole process: ONE subscriber connection carries every channel, and a
 * separate publisher connection carries PUBLISH (and the liveness probe). Both go to one Redis,
 * to the master Sentinel names, or to one node of a cluster in classic mode (redis-link.ts).
 *
 * - The hub's interest tracker owns the subscription set (STYLE I.4): ioredis'
 *   `autoResubscribe` is off, and every (re)connect resubscribes `handler.desiredChannels()`
 *   in batched SUBSCRIBE commands, then reports onLive and status 'ready'.
 * - Edges arriving while the subscriber is not connected are dropped: the resubscribe reads
 *   the desired set at 'ready', so it covers them.
 * - A link can die silently (half-open TCP, a stopped server). A token published on a private
 *   probe channel every probeIntervalMs must come back on the subscriber within
 *   probeTimeoutMs; otherwise both connections are dropped and re-established.
 * - A `generation` counter increments on every link loss, so replies from a previous
 *   connection never report onLive or 'ready' for the current one.
 */
export class RedisBroker implements Broker {
  /** One subscriber connection per process, whatever the channel count (documentation). */
  readonly subscriberCount = 1 as const;
  readonly #log: Logger;
  readonly #stats: RedisBrokerStats;
  readonly #config: BrokerConfig;
  readonly #sub: Redis;
  readonly #pubReady: ReadyGate;
  readonly #pub: Redis;
  readonly #probeChannel: string;
  #status: BrokerStatus = 'connecting';
  #hasBeenReady = false;
  #handler: BrokerHandler | null = null;
  #generation = 0;
  /**
   * The subscriber connection is up and its resubscribe has been sent, so edges go out on it
   * (queued behind the resubscribe). False from a link loss (or a probe miss, before ioredis
   * notices the socket is gone) until the next 'ready'.
   */
  #isSubLinkUp = false;
  #probeInterval: NodeJS.Timeout | null = null;
  #probe: { token: string; timer: NodeJS.Timeout } | null = null;
  #probeSeq = 0;
  #isSubErrorLogged = false;
  /** Outage bookkeeping for the periodic `redis unreachable` warning (0: link is up). */
  #downSinceMs = 0;
  #lastError = '';
  #downLogTimer: NodeJS.Timeout | null = null;
  #onStarted: (() => void) | null = null;

  constructor(config: BrokerConfig, log: Logger, stats: RedisBrokerStats) {
    this.#config = config;
    this.#log = log.child({ component: 'broker', kind: 'redis' });
    this.#stats = stats;
    this.#probeChannel = `${config.probeChannel}:${process.pid}-${randomBytes(4).toString('hex')}`;
    const common = linkOptions(config);
    this.#sub = connectSingle(config, { ...common, autoResubscribe: false, connectionName: `herald:sub:${process.pid}`, Connector: DirectReadConnector });
    readPushes(this.#sub, 'message', (channel, payload) => this.#onMessage(channel, payload), this.#log);
    this.#pub = connectSingle(config, {
      ...common,
      connectionName: `herald:pub:${process.pid}`,
      // Bounds how long a publish can hang on a silent link; the probe detects it sooner.
      commandTimeout: config.probeTimeoutMs * 2,
    });
    this.#pubReady = new ReadyGate(this.#pub);
    this.#wire();
  }

  get status(): BrokerStatus {
    return this.#status;
  }

  /**
   * Connects both links and starts the probe. Resolves at the first 'ready' or at the first
   * failed attempt (it never rejects: Redis down at boot is a readiness state, and the broker
   * keeps retrying with backoff).
   */
  start(handler: BrokerHandler): Promise<void> {
    if (this.#handler !== null) return Promise.reject(new Error('RedisBroker.start called twice'));
    this.#handler = handler;
    const started = new Promise<void>((resolve) => (this.#onStarted = resolve));
    this.#probeInterval = setInterval(() => this.#guard('probe', () => this.#probeTick()), this.#config.probeIntervalMs);
    // One warning per outage is easy to miss: repeat it while Redis stays away.
    this.#downLogTimer = setInterval(() => this.#guard('down log', () => this.#logStillDown()), downLogIntervalMs(this.#config.reconnectMaxMs));
    this.#downLogTimer.unref();
    this.#downSinceMs = Date.now();
    this.#sub.connect().catch((err: unknown) => this.#log.debug('subscriber first connect failed', { err: String(err) }));
    this.#pub.connect().catch((err: unknown) => this.#log.debug('publisher first connect failed', { err: String(err) }));
    return started;
  }

  subscribe(redisChannels: readonly string[]): void {
    if (!this.#isSubLinkUp || redisChannels.length === 0) return;
    void this.#subscribeChunks(redisChannels, this.#generation);
  }

  unsubscribe(redisChannels: readonly string[]): void {
    if (!this.#isSubLinkUp || redisChannels.length === 0) return;
    for (let i = 0; i < redisChannels.length; i += CHANNELS_PER_COMMAND) {
      const chunk = redisChannels.slice(i, i + CHANNELS_PER_COMMAND);
      this.#sub.unsubscribe(...chunk).catch((err: unknown) => this.#log.debug('unsubscribe failed', { err: String(err) }));
    }
  }

  async publish(redisChannel: string, payload: string | Buffer): Promise<number> {
    if (this.#status === 'closed') throw new HeraldError('broker_unavailable');
    if (this.#pub.status !== 'ready') {
      // Redis down: fail fast. Redis back (subscriptions live, /readyz ready) but this link
      // still reconnecting, as after a failover: wait for it, up to probeTimeout.
      if (this.#status !== 'ready') throw new HeraldError('broker_unavailable');
      if (!(await this.#pubReady.wait(this.#config.probeTimeoutMs))) throw new HeraldError('broker_unavailable', 'the publisher link did not come back within broker.probeTimeout');
    }
    try {
      return await this.#pub.publish(redisChannel, payload);
    } catch (err) {
      this.#log.debug('publish failed', { err: String(err) });
      throw new HeraldError('broker_unavailable');
    }
  }

  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#generation++;
    this.#isSubLinkUp = false;
    if (this.#probeInterval !== null) clearInterval(this.#probeInterval);
    this.#probeInterval = null;
    if (this.#downLogTimer !== null) clearInterval(this.#downLogTimer);
    this.#downLogTimer = null;
    this.#clearProbe();
    this.#setStatus('closed');
    this.#onStarted?.();
    await Promise.all([quitOrDrop(this.#sub, this.#log), quitOrDrop(this.#pub, this.#log)]);
  }

  #wire(): void {
    const sub = this.#sub;
    sub.on('ready', () => this.#guard('subscriber ready', () => this.#resubscribe()));
    sub.on('close', () => this.#guard('subscriber close', () => this.#linkLost()));
    sub.on('reconnecting', () => this.#guard('subscriber reconnecting', () => this.#stats.reconnect()));
    sub.on('error', (err: Error) => {
      // One warning per outage; the retries that follow log at debug.
      const log = this.#isSubErrorLogged ? this.#log.debug : this.#log.warn;
      this.#isSubErrorLogged = true;
      this.#lastError = err.message;
      log('subscriber connection error', { err: err.message });
    });
    this.#pub.on('error', (err: Error) => this.#log.debug('publisher connection error', { err: err.message }));
    this.#pub.on('ready', () => this.#log.debug('publisher ready'));
    for (const conn of [sub, this.#pub]) reviveOnEnd(conn, this.#config.reconnectMaxMs, () => this.#status === 'closed', this.#log);
  }

  #resubscribe(): void {
    const handler = this.#handler;
    if (handler === null || this.#status === 'closed') return;
    const generation = ++this.#generation;
    this.#isSubLinkUp = true;
    this.#isSubErrorLogged = false;
    const desired = [...handler.desiredChannels()];
    this.#log.info('resubscribing', { channels: desired.length });
    this.#subscribeChunks([this.#probeChannel, ...desired], generation).then(
      (isCurrent) => {
        if (!isCurrent || this.#status === 'closed') return;
        const becomeReady = (): void => {
          if (generation !== this.#generation || this.#status === 'closed') return;
          this.#setStatus('ready');
          this.#onStarted?.();
          this.#onStarted = null;
        };
        // The first 'ready' also waits for the publisher, so /readyz never says ready while
        // POST /publish would still fail; later reconnects of the subscriber do not wait.
        if (this.#hasBeenReady || this.#pub.status === 'ready') becomeReady();
        else this.#pub.once('ready', () => this.#guard('publisher ready', becomeReady));
      },
      (err: unknown) => this.#log.warn('resubscribe failed; waiting for the next reconnect', { err: String(err) }),
    );
  }

  /** SUBSCRIBE in chunks; onLive per acknowledged chunk. Resolves false if the link was lost meanwhile. */
  async #subscribeChunks(channels: readonly string[], generation: number): Promise<boolean> {
    const acks: Array<Promise<void>> = [];
    for (let i = 0; i < channels.length; i += CHANNELS_PER_COMMAND) {
      const chunk = channels.slice(i, i + CHANNELS_PER_COMMAND);
      acks.push(
        this.#sub.subscribe(...chunk).then(() => {
          if (generation !== this.#generation) return;
          const live = chunk.filter((c) => c !== this.#probeChannel);
          if (live.length > 0) this.#guard('onLive', () => this.#handler?.onLive(live));
        }),
      );
    }
    try {
      await Promise.all(acks);
    } catch (err) {
      if (generation !== this.#generation) {
        this.#log.debug('subscribe failed on a link that is already gone', { err: String(err) });
        return false;
      }
      // Redis refused a SUBSCRIBE on a live link (e.g. an ACL channel rule): staying here would
      // leave the broker not-ready for good. Reconnect (with backoff) and try the set again.
      this.#log.warn('subscribe refused by Redis; reconnecting', { err: String(err) });
      this.#sub.disconnect(true);
      return false;
    }
    return generation === this.#generation;
  }

  #linkLost(): void {
    this.#isSubLinkUp = false;
    if (this.#status === 'closed') return;
    this.#generation++;
    this.#clearProbe();
    this.#setStatus(this.#hasBeenReady ? 'reconnecting' : 'connecting');
    // Redis down at boot: start() resolves and readiness stays red while retrying.
    this.#onStarted?.();
    this.#onStarted = null;
  }

  #onMessage(channel: string, payload: Buffer): void {
    if (channel === this.#probeChannel) {
      if (this.#probe !== null && payload.toString('latin1') === this.#probe.token) this.#clearProbe();
      return;
    }
    try {
      this.#handler?.onMessage(channel, payload);
    } catch (err) {
      this.#log.error('broker handler onMessage threw', { err });
    }
  }

  #probeTick(): void {
    // Publisher down: no probe; the subscriber's own errors drive status.
    if (this.#status !== 'ready' || this.#pub.status !== 'ready' || this.#probe !== null) return;
    const token = String(++this.#probeSeq);
    const timer = setTimeout(() => this.#guard('probe timeout', () => this.#probeMissed(token)), this.#config.probeTimeoutMs);
    this.#probe = { token, timer };
    this.#pub.publish(this.#probeChannel, token).catch((err: unknown) => {
      this.#log.debug('probe publish failed', { err: String(err) });
      // A publisher that went down since the check is not evidence against the subscriber.
      if (this.#pub.status !== 'ready' && this.#probe?.token === token) this.#clearProbe();
    });
  }

  #probeMissed(token: string): void {
    if (this.#probe?.token !== token) return;
    this.#probe = null;
    this.#stats.probeMissed();
    this.#log.warn('liveness probe missed; reconnecting', { probeTimeoutMs: this.#config.probeTimeoutMs });
    this.#linkLost();
    // Either link may be the dead one, so both are re-established.
    this.#sub.disconnect(true);
    this.#pub.disconnect(true);
  }

  #logStillDown(): void {
    if (this.#status === 'ready' || this.#status === 'closed' || this.#downSinceMs === 0) return;
    this.#log.warn('redis unreachable; still retrying (new subscribers get broker_unavailable)', {
      redis: describeTarget(this.#config),
      downForS: Math.round((Date.now() - this.#downSinceMs) / 1000),
      lastError: this.#lastError,
    });
  }

  #clearProbe(): void {
    if (this.#probe !== null) clearTimeout(this.#probe.timer);
    this.#probe = null;
  }

  #setStatus(next: BrokerStatus): void {
    const previous = this.#status;
    if (next === previous) return;
    this.#status = next;
    if (next === 'ready') this.#hasBeenReady = true;
    const log = previous === 'ready' ? this.#log.warn : this.#log.info;
    log('broker status', { from: previous, to: next });
    if (next === 'ready') this.#downSinceMs = 0;
    else if (this.#downSinceMs === 0) this.#downSinceMs = Date.now();
    this.#guard('onStatus', () => this.#handler?.onStatus(next));
  }

  /** The boundary for every event and timer callback: log and keep running (STYLE C). */
  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error(`broker callback failed: ${what}`, { err });
    }
  }
}

/** How often an outage is logged again: 2 × reconnectMax (10 s by default), within 1–30 s. */
function downLogIntervalMs(reconnectMaxMs: number): number {
  return Math.min(30_000, Math.max(1000, 2 * reconnectMaxMs));
}

/** What the operator configured: the URL's host, or the Sentinel master name and sentinels. */
function describeTarget(config: BrokerConfig): string {
  if (config.kind === 'sentinel') return `sentinel master ${config.sentinel.masterName} via ${config.sentinel.nodes.map((n) => `${n.host}:${n.port}`).join(', ')}`;
  return URL.canParse(config.url) ? new URL(config.url).host : 'redis';
}
