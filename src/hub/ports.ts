/**
 * The ports the hub needs. The hub declares them; broker/ and history/ implement them and
 * daemon.ts wires the concrete classes. Nothing here imports I/O.
 */
import type { HistoryConfig } from '../config/types.js';
import type { PreparedMessage } from './message.js';

export type BrokerStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/**
 * Implemented by the hub; called by a Broker on its own event-loop callbacks.
 * Callbacks must not throw (the broker guards them anyway and logs).
 */
export interface BrokerHandler {
  /**
   * One message from the broker, in the order the broker received it. `payload` may be a view
   * of the link's read buffer (broker/redis-direct-read.ts), valid only during the call: copy what
   * is kept past it.
   */
  onMessage(redisChannel: string, payload: Buffer): void;
  /**
   * These channels' subscriptions are confirmed live (SUBSCRIBE acknowledged): every message
   * published from now on will reach onMessage. Called after each batch and after each
   * resubscribe following a reconnect.
   */
  onLive(redisChannels: readonly string[]): void;
  /**
   * Link status changed. Leaving 'ready' means every subscription is gone until onLive is
   * called again for it: messages published meanwhile were lost by Redis pub/sub, so the hub
   * must tell live subscribers to reset.
   */
  onStatus(status: BrokerStatus): void;
  /**
   * These channels' subscriptions are gone until onLive is called again for them (a cluster
   * shard failed over, or their slot moved to another shard): messages published meanwhile
   * were lost, so the hub must tell their live subscribers to reset. The per-channel form of
   * leaving 'ready', for a broker whose links fail apart; other channels stay live.
   */
  onCoverageLost(redisChannels: readonly string[]): void;
  /** The channels that should be subscribed now (the interest tracker owns this set). */
  desiredChannels(): Iterable<string>;
}

/**
 * Publish/subscribe transport to the outside world (Redis or in-process).
 * Contract:
 * - subscribe/unsubscribe receive interest EDGES already batched by the caller (first local
 *   subscriber / last one plus linger). The broker may batch further but must preserve order
 *   per channel, and must not replay its own copy of the set on reconnect: it asks
 *   handler.desiredChannels() instead (one owner of the subscription set).
 * - publish fails fast with a HeraldError('broker_unavailable') when the link is down; it
 *   never queues without bound.
 */
export interface Broker {
  /**
   * 'ready' when every link is. A broker with several links (one per cluster shard) reports a
   * single link's loss through onCoverageLost, not by leaving 'ready' in onStatus, because the
   * other links' subscriptions are intact; its `status` still says 'reconnecting' meanwhile.
   */
  readonly status: BrokerStatus;
  start(handler: BrokerHandler): Promise<void>;
  subscribe(redisChannels: readonly string[]): void;
  unsubscribe(redisChannels: readonly string[]): void;
  /** Resolves with the number of receivers Redis reports (or local subscriber count). */
  publish(redisChannel: string, payload: string | Buffer): Promise<number>;
  close(): Promise<void>;
}

/** Result of asking history for what a subscriber missed. */
export type Replay =
  | { readonly ok: true; readonly messages: readonly PreparedMessage[] }
  | { readonly ok: false; readonly reason: 'evicted' | 'not_covered' | 'ambiguous' };

/**
 * What one covered channel can vouch for. Seqs are this process's; `…Ds` are wall-clock
 * receive times in deciseconds (position.ts), comparable across processes within the tolerance.
 */
export interface Coverage {
  /** Seq taken when the broker subscription went live; nothing before it is known. */
  readonly coveredFrom: number;
  readonly coveredFromDs: number;
  /** Newest message that left the ring (0 when none). */
  readonly evictedUpTo: number;
  readonly evictedDs: number;
  /** The newest message kept: a head needs it and coveredFrom, from one lookup. */
  readonly newest: PreparedMessage | null;
}

/** A fingerprint lookup: the one message with it, `ambiguous` when several, null when none. */
export type Located = { readonly message: PreparedMessage; readonly key: string } | 'ambiguous' | null;

/**
 * Recent messages per channel state. Called only by the hub, synchronously, on its own
 * turn; implementations must be bounded by count and age per key. `key` is the hub's name for
 * one (client channel, Redis channel) mapping.
 *
 * Coverage: `cover(key, seq, ds)` records that from this seq (and wall time) on the channel is
 * subscribed at the broker without interruption; replay from a position before that is
 * impossible. Every kept message is indexed by its fingerprint across all keys.
 */
export interface History {
  /**
   * Keeps `message` in the coverage cover() returned: no key lookup, once per message per
   * channel. A coverage that uncover() or a later cover() has ended takes nothing.
   */
  append(coverage: Coverage, message: PreparedMessage, limits: HistoryConfig, nowMs: number): void;
  /** Starts the key's coverage and returns it: the handle append() takes. */
  cover(key: string, fromSeq: number, fromDs: number): Coverage;
  /** Marks the key as no longer covered (broker subscription ended or link lost). */
  uncover(key: string): void;
  coverage(key: string): Coverage | null;
  /** One map lookup, whatever the number of channels. */
  locate(fp: string): Located;
  /**
   * Whether a message kept under `key` with a SHORT window (the first WINDOW−1 after coverage
   * started) has the payloads that end `message`'s window: another process's full-window id
   * of `message` could then name that one. Exact: compares payload digests, not times.
   */
  mayBeShortTwin(key: string, message: PreparedMessage): boolean;
  /**
   * Messages with seq > afterSeq, oldest first; or why that is impossible. More than `max`
   * of them (a reload shrank the bound) is `evicted`: a partial replay would be a silent gap.
   */
  replay(key: string, afterSeq: number, limits: HistoryConfig, nowMs: number, max: number): Replay;
  /**
   * Messages received after wall time `ds` (deciseconds) by more than the tolerance; any within
   * it is `ambiguous` (it may or may not be on the client's side of the position).
   */
  replayAfterTime(key: string, ds: number, toleranceDs: number, limits: HistoryConfig, nowMs: number, max: number): Replay;
  /** Evicts entries older than their age bound (for idle channels); returns how many. */
  sweep(nowMs: number): number;
  readonly channelCount: number;
}

/** One entry of a durable channel's stream. */
export interface DurableEntry {
  readonly id: string;
  readonly payload: Buffer;
}

export type DurableRead =
  | { readonly ok: true; readonly entries: readonly DurableEntry[]; readonly epoch: string }
  | { readonly ok: false; readonly reason: 'evicted' | 'epoch' | 'unavailable' };

/**
 * History of durable channels, kept in Redis (history/redis-stream.ts). The hub calls it only
 * to serve a resume or to heal a gap, never per message. Promises never reject: failures are
 * `unavailable`.
 */
export interface DurableStore {
  /**
   * Entries after `afterId` (exclusive), oldest first. `epoch` is the stream life the position
   * came from (null: any); another one is `epoch`, a trimmed gap `evicted`, more than `max`
   * entries `evicted` (never a partial replay).
   */
  read(redisChannel: string, afterId: string, epoch: string | null, max: number): Promise<DurableRead>;
  /** Records the rule's bounds in the stream's meta, so `FCALL herald_publish` trims alike. */
  describe(redisChannel: string, limits: HistoryConfig): void;
}
