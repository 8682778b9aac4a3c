import calculateSlot from 'cluster-key-slot';
import { Redis, type RedisOptions } from 'ioredis';
import type { HostPort } from '../config/types.js';

/** Redis Cluster's fixed slot count. */
export const SLOT_COUNT = 16_384;

/** The slot of a channel name, hash tags included (`{room}:a` and `{room}:b` share one). */
export const slotOf = (channel: string): number => calculateSlot(channel);

export const nodeKey = (n: HostPort): string => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`);

/**
 * Who owns which slot, as one node answered CLUSTER SLOTS: the master of each slot (by its
 * "host:port" key) and every node seen (masters and replicas), which are the addresses to ask
 * next time. Immutable; a refresh builds a new one and the broker diffs them.
 */
export class SlotMap {
  /** Master key per slot; '' for a slot no master serves (a cluster in trouble). */
  readonly #owner: string[];
  readonly nodes: ReadonlyMap<string, HostPort>;
  readonly masters: ReadonlyMap<string, HostPort>;

  constructor(owner: string[], nodes: Map<string, HostPort>, masters: Map<string, HostPort>) {
    this.#owner = owner;
    this.nodes = nodes;
    this.masters = masters;
  }

  ownerOf(slot: number): string {
    return this.#owner[slot] ?? '';
  }

  ownerOfChannel(channel: string): string {
    return this.ownerOf(slotOf(channel));
  }

  /** Every slot has a master. */
  get isComplete(): boolean {
    return this.#owner.every((key) => key !== '');
  }

  /** Slots `key` serves, as "a-b" ranges (for logs and /readyz). */
  rangesOf(key: string): string[] {
    const ranges: string[] = [];
    for (let s = 0; s < SLOT_COUNT; s++) {
      if (this.#owner[s] !== key) continue;
      let e = s;
      while (e + 1 < SLOT_COUNT && this.#owner[e + 1] === key) e++;
      ranges.push(s === e ? String(s) : `${s}-${e}`);
      s = e;
    }
    return ranges;
  }

  slotCountOf(key: string): number {
    return this.#owner.reduce((n, k) => (k === key ? n + 1 : n), 0);
  }

  /** Parses a CLUSTER SLOTS reply; `asked` stands in for an empty endpoint (RESP spec: "the node that answered"). */
  static fromClusterSlots(reply: unknown, asked: HostPort): SlotMap {
    const owner = new Array<string>(SLOT_COUNT).fill('');
    const nodes = new Map<string, HostPort>();
    const masters = new Map<string, HostPort>();
    if (!Array.isArray(reply)) throw new Error('CLUSTER SLOTS: not an array');
    for (const range of reply as unknown[][]) {
      const [start, end, ...holders] = range;
      if (typeof start !== 'number' || typeof end !== 'number') throw new Error('CLUSTER SLOTS: bad range');
      holders.forEach((h, i) => {
        const [host, port] = h as [string | Buffer, number];
        const hostText = String(host);
        const node = { host: hostText === '' || hostText === '?' ? asked.host : hostText, port: Number(port) };
        const key = nodeKey(node);
        nodes.set(key, node);
        if (i !== 0) return;
        masters.set(key, node);
        for (let s = start; s <= end && s < SLOT_COUNT; s++) owner[s] = key;
      });
    }
    return new SlotMap(owner, nodes, masters);
  }
}

/**
 * Asks each address in turn for CLUSTER SLOTS over a short-lived connection (the long-lived
 * ones are subscribers and cannot send it) and returns the first answer, or throws the last
 * error. `options` carries credentials, TLS and the connect timeout.
 */
export async function fetchSlotMap(addresses: readonly HostPort[], options: RedisOptions, timeoutMs: number): Promise<SlotMap> {
  let lastError: unknown = new Error('no cluster node to ask');
  for (const addr of addresses) {
    const conn = new Redis({
      ...options,
      host: addr.host,
      port: addr.port,
      lazyConnect: true,
      enableOfflineQueue: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      connectionName: `herald:topology:${process.pid}`,
    });
    conn.on('error', () => {});
    try {
      await conn.connect();
      return SlotMap.fromClusterSlots(await conn.call('CLUSTER', 'SLOTS'), addr);
    } catch (err) {
      lastError = err;
    } finally {
      conn.disconnect();
    }
  }
  throw lastError;
}
