import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { BrokerConfig } from '../config/types.js';
import { HeraldError } from '../errors.js';
import type { Broker, BrokerHandler, BrokerStatus } from '../hub/ports.js';
import type { Logger } from '../log.js';
import type { RedisBrokerStats } from './redis.js';
import { credentialsOf, linkOptions, quitOrDrop } from './redis-link.js';
import { ShardLink, type ShardEvents } from './redis-shard.js';
import { fetchSlotMap, nodeKey, slotOf, type SlotMap } from './redis-slots.js';

/** Slot map refresh while every shard is ready (a safety net: moves are also pushed by Redis). */
const HEALTHY_REFRESH_MS = 10_000;
/** Slot map refresh while a shard is down or a move is pending: how soon a promoted replica is found. */
const DEGRADED_REFRESH_MS = 300;

/** One shard as /readyz and the metrics show it. */
export interface ShardInfo {
  readonly node: string;
  readonly status: BrokerStatus;
  readonly slots: number;
}

/**
 * Redis Cluster with sharded pub/sub: each channel's traffic touches only the shard that owns
 * its slot. ONE subscriber connection per shard master per process (ShardLink), whatever the
 * channel count; SSUBSCRIBE grouped per slot; SPUBLISH through an ioredis Cluster client, which
 * follows MOVED/ASK for commands. Contract as RedisBroker (src/hub/ports.ts), plus:
 *
 * - The slot map (CLUSTER SLOTS, refreshed on any sign of change and every HEALTHY_REFRESH_MS)
 *   says which link carries a channel. The hub's interest set stays the only channel set: a
 *   link's channels are `desiredChannels()` filtered by owner, computed when needed.
 * - A shard lost (failover, crash, probe miss) or a slot moved away (Redis pushes
 *   `sunsubscribe`) is reported per channel with handler.onCoverageLost, so only those
 *   channels' clients get a reset; the others stay live. The channels are SSUBSCRIBEd on the
 *   new owner once the refreshed map names it, and onLive follows its acknowledgement.
 * - onLive is reported only for an acknowledgement from the link that owns the slot in the
 *   current map, so a late reply from a former owner never claims coverage.
 * - `status` is 'ready' when the map covers all 16384 slots, every master's link is ready and
 *   so is the publisher; handler.onStatus hears 'ready' and 'closed' only (partial loss is per
 *   channel).
 *
 * A per-channel command for later work (e.g. a Redis Function on a channel's stream) routes
 * the same way: slotOf(name) → map owner; the Cluster client already does that for commands
 * whose key is the channel (or shares its hash tag).
 */
export class RedisClusterBroker implements Broker {
  readonly #config: BrokerConfig;
  readonly #log: Logger;
  readonly #stats: RedisBrokerStats;
  readonly #pub: Cluster;
  readonly #links = new Map<string, ShardLink>();
  readonly #probeBase: string;
  /** Channels dropped by a move or refused, to place again at the next map. */
  readonly #stale = new Set<string>();
  #map: SlotMap | null = null;
  #status: BrokerStatus = 'connecting';
  #hasBeenReady = false;
  #handler: BrokerHandler | null = null;
  #onStarted: (() => void) | null = null;
  #probeInterval: NodeJS.Timeout | null = null;
  #refreshTimer: { timer: NodeJS.Timeout; at: number } | null = null;
  #refreshing = false;
  #refreshAgain = false;
  #isRefreshErrorLogged = false;

  constructor(config: BrokerConfig, log: Logger, stats: RedisBrokerStats) {
    this.#config = config;
    this.#log = log.child({ component: 'broker', kind: 'redis-cluster' });
    this.#stats = stats;
    this.#probeBase = `${config.probeChannel}:${process.pid}-${randomBytes(4).toString('hex')}`;
    const common = linkOptions(config);
    this.#pub = new Cluster(
      config.cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
      {
        enableOfflineQueue: false,
        enableReadyCheck: true,
        scaleReads: 'master',
        clusterRetryStrategy: (attempt) => common.retryStrategy?.(attempt) ?? null,
        redisOptions: {
          ...credentialsOf(config.url),
          connectionName: `herald:pub:${process.pid}`,
          connectTimeout: common.connectTimeout ?? 1000,
          commandTimeout: config.probeTimeoutMs * 2,
          maxRetriesPerRequest: 1,
        },
      },
    );
    this.#pub.on('error', (err: Error) => this.#log.debug('publisher error', { err: err.message }));
    for (const event of ['ready', 'close', 'end']) this.#pub.on(event, () => this.#guard(`publisher ${event}`, () => this.#updateStatus()));
  }

  get status(): BrokerStatus {
    return this.#status;
  }

  /** One row per shard master of the current map (for /readyz and metrics). */
  shards(): ShardInfo[] {
    const map = this.#map;
    if (map === null) return [];
    return [...map.masters.keys()].map((node) => ({ node, status: this.#links.get(node)?.status ?? 'connecting', slots: map.slotCountOf(node) }));
  }

  start(handler: BrokerHandler): Promise<void> {
    if (this.#handler !== null) return Promise.reject(new Error('RedisClusterBroker.start called twice'));
    this.#handler = handler;
    const started = new Promise<void>((resolve) => (this.#onStarted = resolve));
    this.#probeInterval = setInterval(() => this.#guard('probe', () => this.#probeTick()), this.#config.probeIntervalMs);
    this.#pub.connect().catch((err: unknown) => this.#log.debug('publisher first connect failed', { err: String(err) }));
    this.#scheduleRefresh(0);
    return started;
  }

  subscribe(redisChannels: readonly string[]): void {
    for (const [link, channels] of this.#byLink(redisChannels)) link.subscribe(channels);
  }

  unsubscribe(redisChannels: readonly string[]): void {
    for (const [link, channels] of this.#byLink(redisChannels)) link.unsubscribe(channels);
  }

  async publish(redisChannel: string, payload: string | Buffer): Promise<number> {
    if (this.#status === 'closed' || this.#pub.status !== 'ready') throw new HeraldError('broker_unavailable');
    try {
      return Number(await this.#pub.spublish(redisChannel, payload));
    } catch (err) {
      this.#log.debug('spublish failed', { err: String(err) });
      throw new HeraldError('broker_unavailable');
    }
  }

  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    if (this.#probeInterval !== null) clearInterval(this.#probeInterval);
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer.timer);
    this.#probeInterval = null;
    this.#refreshTimer = null;
    this.#setStatus('closed');
    this.#onStarted?.();
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all([...links.map((l) => l.close()), quitOrDrop(this.#pub, this.#log)]);
  }

  // ── slot map ────────────────────────────────────────────────────────────────────

  #scheduleRefresh(delayMs: number): void {
    if (this.#status === 'closed') return;
    const at = Date.now() + delayMs;
    if (this.#refreshTimer !== null) {
      if (this.#refreshTimer.at <= at) return;
      clearTimeout(this.#refreshTimer.timer);
    }
    const timer = setTimeout(() => {
      this.#refreshTimer = null;
      void this.#refresh();
    }, delayMs);
    this.#refreshTimer = { timer, at };
  }

  async #refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    this.#refreshing = true;
    try {
      // Masters whose link is up first (they answer at once), then every node seen, then the
      // seeds: a dead master would cost a connect timeout on each refresh.
      const map = this.#map;
      const up = map === null ? [] : [...map.masters].filter(([k]) => this.#links.get(k)?.status === 'ready').map(([, n]) => n);
      const known = map === null ? [] : [...up, ...map.nodes.values()];
      const next = await fetchSlotMap(dedupe([...known, ...this.#config.cluster.nodes]), credentialsOf(this.#config.url), this.#config.probeTimeoutMs);
      this.#isRefreshErrorLogged = false;
      if (this.#status !== 'closed') this.#guard('apply slot map', () => this.#apply(next));
    } catch (err) {
      // One warning per outage; the retries that follow log at debug.
      (this.#isRefreshErrorLogged ? this.#log.debug : this.#log.warn)('no cluster node answered CLUSTER SLOTS', { err: String(err) });
      this.#isRefreshErrorLogged = true;
      // Nothing reachable at boot: start() resolves and readiness stays red while retrying.
      this.#onStarted?.();
      this.#onStarted = null;
    } finally {
      this.#refreshing = false;
      const again = this.#refreshAgain;
      this.#refreshAgain = false;
      this.#scheduleRefresh(again ? 0 : this.#status === 'ready' && this.#stale.size === 0 ? HEALTHY_REFRESH_MS : DEGRADED_REFRESH_MS);
    }
  }

  /** Adopts `map`: links for new masters, none for former ones, moved channels placed anew. */
  #apply(map: SlotMap): void {
    const old = this.#map;
    this.#map = map;
    for (const [key, node] of map.masters) {
      if (this.#links.has(key)) continue;
      const link = new ShardLink(key, { ...linkOptions(this.#config), ...credentialsOf(this.#config.url), host: node.host, port: node.port }, this.#events, this.#log, this.#config.reconnectMaxMs);
      this.#links.set(key, link);
      this.#log.info('shard master', { node: key, slots: map.rangesOf(key).join(',') });
      link.connect();
    }
    for (const [key, link] of this.#links) {
      if (map.masters.has(key)) continue;
      this.#log.info('no longer a shard master; closing its link', { node: key });
      this.#links.delete(key);
      void link.close();
    }
    const moved: string[] = [];
    for (const channel of this.#handler?.desiredChannels() ?? []) {
      const slot = slotOf(channel);
      if (this.#stale.has(channel) || (old !== null && old.ownerOf(slot) !== map.ownerOf(slot))) moved.push(channel);
    }
    this.#stale.clear();
    if (moved.length > 0) {
      this.#log.info('channels moved to another shard; resubscribing there', { channels: moved.length });
      this.#guard('onCoverageLost', () => this.#handler?.onCoverageLost(moved));
      this.subscribe(moved);
    }
    for (const link of this.#links.values()) this.#placeProbe(link);
    this.#updateStatus();
  }

  /** The probe channel of a link must hash to a slot that link owns; a hash tag picks one. */
  #placeProbe(link: ShardLink): void {
    const map = this.#map;
    if (map === null || (link.probeChannel !== '' && map.ownerOfChannel(link.probeChannel) === link.key)) return;
    for (let tag = 0; tag < 100_000; tag++) {
      const channel = `${this.#probeBase}:{${tag}}`;
      if (map.ownerOfChannel(channel) === link.key) return link.setProbeChannel(channel);
    }
  }

  /** Ready links paired with the channels they own; channels of a link not ready are left for its connect. */
  #byLink(channels: readonly string[]): Map<ShardLink, string[]> {
    const out = new Map<ShardLink, string[]>();
    const map = this.#map;
    if (map === null) return out;
    for (const channel of channels) {
      const link = this.#links.get(map.ownerOfChannel(channel));
      if (link === undefined) continue;
      const list = out.get(link);
      if (list === undefined) out.set(link, [channel]);
      else list.push(channel);
    }
    return out;
  }

  #owned(link: ShardLink): string[] {
    const map = this.#map;
    if (map === null) return [];
    return [...(this.#handler?.desiredChannels() ?? [])].filter((c) => map.ownerOfChannel(c) === link.key);
  }

  readonly #events: ShardEvents = {
    connected: (link) => this.#owned(link),
    status: (link, status) => {
      if (status !== 'ready') {
        // Everything this shard carried is gone until its resubscribe (here or on a new owner).
        const lost = this.#owned(link);
        if (lost.length > 0) this.#guard('onCoverageLost', () => this.#handler?.onCoverageLost(lost));
        this.#scheduleRefresh(0);
      }
      this.#updateStatus();
    },
    live: (link, channels) => {
      const map = this.#map;
      if (map === null || this.#links.get(link.key) !== link) return;
      const owned = channels.filter((c) => map.ownerOfChannel(c) === link.key);
      if (owned.length > 0) this.#handler?.onLive(owned);
    },
    message: (channel, payload) => {
      try {
        this.#handler?.onMessage(channel, payload);
      } catch (err) {
        this.#log.error('broker handler onMessage threw', { err });
      }
    },
    stale: (_link, channels) => {
      for (const c of channels) this.#stale.add(c);
      if (channels.length > 0) this.#guard('onCoverageLost', () => this.#handler?.onCoverageLost(channels));
      this.#scheduleRefresh(0);
    },
    reconnecting: () => this.#stats.reconnect(),
    probeMissed: () => this.#stats.probeMissed(),
  };

  #probeTick(): void {
    if (this.#pub.status !== 'ready') return;
    for (const link of this.#links.values()) {
      link.probeTick((channel, token) => this.#pub.spublish(channel, token), this.#config.probeTimeoutMs);
    }
  }

  #updateStatus(): void {
    if (this.#status === 'closed') return;
    const map = this.#map;
    const ready =
      map !== null && map.isComplete && this.#pub.status === 'ready' && [...map.masters.keys()].every((k) => this.#links.get(k)?.status === 'ready');
    this.#setStatus(ready ? 'ready' : this.#hasBeenReady ? 'reconnecting' : 'connecting');
  }

  #setStatus(next: BrokerStatus): void {
    const previous = this.#status;
    if (next === previous) return;
    this.#status = next;
    if (next === 'ready') this.#hasBeenReady = true;
    (previous === 'ready' ? this.#log.warn : this.#log.info)('broker status', { from: previous, to: next, shards: this.shards() });
    if (next === 'ready' || next === 'closed') this.#guard('onStatus', () => this.#handler?.onStatus(next));
    if (next === 'ready') {
      this.#onStarted?.();
      this.#onStarted = null;
    }
  }

  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error(`broker callback failed: ${what}`, { err });
    }
  }
}

function dedupe(nodes: ReadonlyArray<{ host: string; port: number }>): Array<{ host: string; port: number }> {
  const seen = new Map<string, { host: string; port: number }>();
  for (const n of nodes) if (!seen.has(nodeKey(n))) seen.set(nodeKey(n), n);
  return [...seen.values()];
}
