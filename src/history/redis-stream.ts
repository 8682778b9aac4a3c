import { Redis } from 'ioredis';
import { reconnectDelayMs } from '../broker/redis-link.js';
import type { BrokerConfig, HistoryConfig } from '../config/types.js';
import { HeraldError } from '../errors.js';
import type { DurableEntry, DurableRead, DurableStore } from '../hub/ports.js';
import { compareStreamIds } from '../hub/position.js';
import type { Logger } from '../log.js';
import { FUNCTIONS_LIBRARY, FUNCTIONS_VERSION } from './redis-functions.js';

/** The longest wait between this connection's reconnect attempts. */
const STREAM_RECONNECT_MAX_MS = 1000;

/**
 * Durable channels' history in Redis Streams, through the `herald` function library
 * (redis-functions.ts). Its own connection: reads must not queue behind pub/sub traffic, and
 * they fail fast while Redis is down (the hub retries a read for up to 5 s, then resets:
 * durable-channels.ts).
 *
 * Loading the library is safe when many processes start at once: a process loads only when
 * the library is missing (plain FUNCTION LOAD: a concurrent loader makes it fail with "already
 * exists", then we re-check) or older than ours (FUNCTION LOAD REPLACE). Two processes of the
 * same version replace each other with identical code, which is harmless; a newer library is
 * never replaced by an older Herald. It is re-checked on every reconnect, because a Redis that
 * restarted without persistence lost it.
 */
export class RedisStreamStore implements DurableStore {
  readonly #redis: Redis;
  readonly #log: Logger;
  #loading: Promise<void> | null = null;

  constructor(config: Pick<BrokerConfig, 'url' | 'reconnectMinMs' | 'reconnectMaxMs'>, log: Logger) {
    this.#log = log.child({ component: 'durable' });
    this.#redis = new Redis(config.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // The broker's bounds, capped: a resume waits for this connection (durable-channels.ts,
      // 20 × 250 ms), so it must come back within a second of Redis, even where the broker's
      // links back off for longer (broker.reconnectMax defaults to 5 s). One connection per
      // process retrying each second does not load a Redis that is coming back.
      retryStrategy: (attempt) => reconnectDelayMs(attempt, config.reconnectMinMs, Math.min(config.reconnectMaxMs, STREAM_RECONNECT_MAX_MS)),
      disconnectTimeout: 500,
    });
    this.#redis.on('error', (err: Error) => this.#log.debug('durable store connection error', { err }));
    this.#redis.on('ready', () => {
      this.ensureLibrary().catch((err: unknown) => this.#log.error('loading the herald function library failed', { err: toError(err) }));
    });
  }

  /** Connects and loads the library; a Redis that is down now is retried (and loaded) on 'ready'. */
  async start(): Promise<void> {
    try {
      await this.#redis.connect();
      await this.ensureLibrary();
    } catch (err) {
      this.#log.warn('durable store not ready yet; retrying', { err: toError(err) });
    }
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }

  /** Loads the library when missing or older; resolves once FCALL herald_publish works. */
  ensureLibrary(): Promise<void> {
    return (this.#loading ??= this.#load().finally(() => (this.#loading = null)));
  }

  async #load(): Promise<void> {
    const have = await this.#version();
    if (have !== null && have >= FUNCTIONS_VERSION) return;
    try {
      if (have === null) await this.#redis.call('FUNCTION', 'LOAD', FUNCTIONS_LIBRARY);
      else await this.#redis.call('FUNCTION', 'LOAD', 'REPLACE', FUNCTIONS_LIBRARY);
      this.#log.notice('herald function library loaded', { version: FUNCTIONS_VERSION, previous: have });
    } catch (err) {
      if (!/already exists/i.test(toError(err).message)) throw err;
      // Another process loaded it between our check and our load: check what it loaded.
      const now = await this.#version();
      if (now === null || now < FUNCTIONS_VERSION) await this.#redis.call('FUNCTION', 'LOAD', 'REPLACE', FUNCTIONS_LIBRARY);
    }
  }

  async #version(): Promise<number | null> {
    try {
      return Number(await this.#redis.call('FCALL_RO', 'herald_version', '0'));
    } catch (err) {
      if (/function not found/i.test(toError(err).message)) return null;
      throw err;
    }
  }

  /** POST /publish for a durable channel: the same single call apps make. */
  async publish(redisChannel: string, payload: string, limits: HistoryConfig): Promise<number> {
    try {
      const reply = (await this.#redis.call('FCALL', 'herald_publish', '1', redisChannel, payload, String(limits.size), String(limits.maxAgeMs))) as [string, number];
      return Number(reply[1]);
    } catch (err) {
      this.#log.debug('durable publish failed', { err: toError(err) });
      throw new HeraldError('broker_unavailable');
    }
  }

  describe(redisChannel: string, limits: HistoryConfig): void {
    const meta = `herald:{${redisChannel}}:meta`;
    this.#redis.hset(meta, 'size', limits.size, 'maxAgeMs', limits.maxAgeMs).catch((err: unknown) => {
      this.#log.debug('writing durable channel meta failed', { err: toError(err) });
    });
  }

  async read(redisChannel: string, afterId: string, epoch: string | null, max: number): Promise<DurableRead> {
    let reply: [string, string, string, [string, string[]][]];
    try {
      reply = (await this.#redis.call('FCALL_RO', 'herald_read', '1', redisChannel, '(' + afterId, String(max + 1))) as typeof reply;
    } catch (err) {
      this.#log.debug('durable read failed', { err: toError(err) });
      return { ok: false, reason: 'unavailable' };
    }
    const [streamEpoch, trimmed, , raw] = reply;
    if (epoch !== null && streamEpoch !== epoch) return { ok: false, reason: 'epoch' };
    if (compareStreamIds(trimmed, afterId) > 0) return { ok: false, reason: 'evicted' };
    if (raw.length > max) return { ok: false, reason: 'evicted' };
    const entries: DurableEntry[] = raw.map(([id, fields]) => ({ id, payload: Buffer.from(fields[1] ?? '') }));
    return { ok: true, entries, epoch: streamEpoch };
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
