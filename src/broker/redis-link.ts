import { Redis, type RedisOptions } from 'ioredis';
import type { BrokerConfig, HostPort } from '../config/types.js';
import type { Logger } from '../log.js';
import { takeReads } from './redis-direct-read.js';
import { PushReader, type PushKind } from './push-reader.js';

/**
 * What every Herald connection to Redis shares, whatever the topology (one node, Sentinel,
 * each shard of a Cluster): fail-fast queueing, backoff, credentials and TLS from
 * `broker.url`, and a bounded QUIT at close.
 */

/** How long QUIT may take at close before the socket is dropped (a paused server never answers). */
const QUIT_TIMEOUT_MS = 1000;

/** User, password and TLS of `broker.url`: they apply to every node of a cluster or Sentinel group. */
export function credentialsOf(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  if (!URL.canParse(url)) return {};
  const parsed = new URL(url);
  return {
    ...(parsed.username !== '' && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password !== '' && { password: decodeURIComponent(parsed.password) }),
    ...(parsed.protocol === 'rediss:' && { tls: {} }),
  };
}

/** Options of every long-lived Herald connection: fail fast while down, reconnect with backoff. */
export function linkOptions(config: BrokerConfig): RedisOptions {
  return {
    lazyConnect: true,
    // Fail fast instead of queueing without bound while down (STYLE I.4).
    enableOfflineQueue: false,
    // In-flight commands are not replayed after a reconnect: the resubscribe covers SUBSCRIBE,
    // and a PUBLISH must not be sent twice.
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => reconnectDelayMs(attempt, config.reconnectMinMs, config.reconnectMaxMs),
    connectTimeout: Math.max(1000, config.probeTimeoutMs),
    // A stopped server never acknowledges FIN; destroy the socket soon after ending it.
    disconnectTimeout: 500,
  };
}

/**
 * One connection of the single-link broker, to wherever `config` points: the URL (`redis`),
 * the master the sentinels name (`sentinel`: ioredis asks them again on every reconnect), or
 * one node of a cluster in `classic` mode (each reconnect tries the next seed, so a dead node
 * is left for a live one; PUBLISH and SUBSCRIBE work on any node of a cluster).
 */
export function connectSingle(config: BrokerConfig, options: RedisOptions): Redis {
  if (config.kind === 'sentinel') {
    // ioredis' sentinel connector asks the sentinels where the master is: never replaced.
    const { Connector: _replaced, ...sentinelOptions } = options;
    return new Redis({
      ...sentinelOptions,
      ...credentialsOf(config.url),
      sentinels: config.sentinel.nodes.map((n) => ({ host: n.host, port: n.port })),
      name: config.sentinel.masterName,
      // Sentinels often share the data nodes' password.
      ...(credentialsOf(config.url).password !== undefined && { sentinelPassword: credentialsOf(config.url).password }),
    });
  }
  if (config.kind === 'cluster') {
    const nodes = config.cluster.nodes;
    const conn = new Redis({ ...options, ...credentialsOf(config.url), host: nodes[0]?.host ?? '127.0.0.1', port: nodes[0]?.port ?? 6379 });
    rotateNodes(conn, nodes);
    return conn;
  }
  return new Redis(config.url, options);
}

/** Each reconnect attempt of `conn` goes to the next of `nodes` (the connector reads these options). */
function rotateNodes(conn: Redis, nodes: readonly HostPort[]): void {
  const retry = conn.options.retryStrategy;
  let next = 0;
  conn.options.retryStrategy = (attempt: number) => {
    next = (next + 1) % nodes.length;
    conn.options.host = nodes[next]!.host;
    conn.options.port = nodes[next]!.port;
    return retry?.(attempt);
  };
}

/** QUIT within QUIT_TIMEOUT_MS, else drop the socket. Never rejects. */
export async function quitOrDrop(conn: { readonly status: string; quit(): Promise<unknown>; disconnect(): void }, log: Logger): Promise<void> {
  if (conn.status !== 'ready') {
    conn.disconnect();
    return;
  }
  const timer = setTimeout(() => conn.disconnect(), QUIT_TIMEOUT_MS);
  try {
    await conn.quit();
  } catch (err) {
    log.debug('quit failed; dropping the connection', { err: String(err) });
    conn.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/** Exponential backoff with "equal jitter": half fixed, half random, within [minMs, maxMs]. */
export function reconnectDelayMs(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
  const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
  return Math.round(Math.max(minMs, Math.min(maxMs, delay)));
}

/**
 * ioredis stops reconnecting for good ('end') after some connect failures (e.g. a Sentinel
 * connector closed while resolving the master). A Herald link must never stay down, so an
 * ended connection is connected again after `delayMs`, unless `isClosed()`.
 */
export function reviveOnEnd(conn: Redis, delayMs: number, isClosed: () => boolean, log: Logger): void {
  conn.on('end', () => {
    if (isClosed()) return;
    log.warn('redis connection ended; connecting again', { inMs: delayMs });
    setTimeout(() => {
      if (!isClosed() && conn.status === 'end') conn.connect().catch((err: unknown) => log.debug('reconnect after end failed', { err: String(err) }));
    }, delayMs).unref();
  });
}

/**
 * Lets a publish wait, up to a bound, for a publisher link that is still reconnecting while
 * the subscriber link is already back (after a Sentinel failover the two links find the new
 * master at different moments): the app then sees some latency, not a 503 from a Herald whose
 * /readyz says ready. One 'ready' listener whatever the number of publishes waiting.
 */
export class ReadyGate {
  readonly #conn: { readonly status: string };
  readonly #waiters = new Set<() => void>();

  constructor(conn: { readonly status: string; on(event: 'ready', listener: () => void): unknown }) {
    this.#conn = conn;
    conn.on('ready', () => {
      const waiting = [...this.#waiters];
      this.#waiters.clear();
      for (const wake of waiting) wake();
    });
  }

  /** True once the link is ready (at once when it is), false after `timeoutMs` without. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.#conn.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }
}

const ignoreData = (): void => {};

/** ioredis' flag for "this link is in subscriber mode" (it is not in its typings). */
function isSubscriber(conn: Redis): boolean {
  return Boolean((conn as unknown as { condition?: { subscriber?: unknown } }).condition?.subscriber);
}

/**
 * Delivers a subscriber link's pushes of `kind` to `onPush`: straight from the socket through a
 * PushReader (push-reader.ts: why), installed again on every connect since each has a new
 * socket. ioredis' DataHandler attaches its parser with prependListener('data') as the
 * socket's only reader; the PushReader takes its place and hands it every other reply. A link
 * made with DirectReadConnector (redis-direct-read.ts) gives the PushReader its reads before any
 * stream does; other sockets (TLS) are read through 'data'.
 *
 * If ioredis ever attaches differently (not exactly one 'data' listener), the link keeps
 * ioredis' own path, with its `messageBuffer`/`smessageBuffer` events, plus a plain listener
 * that does nothing: ioredis' prepended reader is not counted as a 'data' listener by Node's
 * Readable, so every read would take the buffered path (a nextTick, then emitReadable and
 * read()) instead of being handed over at once (bench/issue-15.md, fourth pass).
 */
export function readPushes(conn: Redis, kind: PushKind, onPush: (channel: string, payload: Buffer) => void, log: Logger): void {
  conn.on(kind === 'message' ? 'messageBuffer' : 'smessageBuffer', (channel: Buffer, payload: Buffer) => onPush(channel.toString('utf8'), payload));
  conn.on('connect', () => {
    const stream = conn.stream;
    const readers = stream.listeners('data');
    if (readers.length !== 1) {
      log.debug('ioredis reader not found; pushes take ioredis\' path', { dataListeners: readers.length });
      stream.on('data', ignoreData);
      return;
    }
    const parse = readers[0] as (replies: Buffer) => void;
    stream.removeListener('data', parse);
    const isDirect = takeReads(stream, (chunk) => reader.feed(chunk));
    const reader = new PushReader(kind, onPush, parse, () => isSubscriber(conn), isDirect);
    if (!isDirect) stream.on('data', (chunk: Buffer) => reader.feed(chunk));
  });
}
