import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import type { SseEvent } from './sse.js';
import { freePort, ping, type HasTeardown } from './redis.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * Real multi-process Redis topologies on loopback ports, in a temp dir removed at teardown:
 * a 3-master + 3-replica Cluster and a Sentinel group (1 master, 1 replica, 3 sentinels).
 * Timeouts are short (node timeout 1 s, down-after 1 s) so a failover takes seconds.
 */

export interface RedisNode {
  readonly port: number;
  readonly addr: string;
  /** SIGKILL and wait for exit. Idempotent. */
  kill(): Promise<void>;
  isRunning(): boolean;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function spawnNode(bin: string, args: readonly string[], port: number): Promise<RedisNode> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`${bin} exited: ${output}`);
        return ping(port);
      },
      { timeoutMs: 10_000, intervalMs: 20, what: `${bin} on port ${port}` },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    addr: `127.0.0.1:${port}`,
    isRunning: () => child.exitCode === null && child.signalCode === null,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    },
  };
}

function tempDir(t: HasTeardown, nodes: RedisNode[], prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const BASE = ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'];

export interface RedisCluster {
  readonly nodes: readonly RedisNode[];
  /** "host:port" of every node, for `broker.cluster.nodes`. */
  readonly seeds: readonly string[];
  /** A plain connection to `port`, closed at teardown. */
  admin(port: number): Redis;
  /** Port of the master that owns `slot` now (asks a live node). */
  ownerOf(slot: number): Promise<number>;
  /** CLUSTER SLOTS as [start, end, masterPort], from a live node. */
  ranges(): Promise<Array<[number, number, number]>>;
  masters(): Promise<number[]>;
  nodeId(port: number): Promise<string>;
  /** Resolves when every live node reports cluster_state:ok and agrees on the masters. */
  waitHealthy(timeoutMs?: number): Promise<void>;
}

/** CLUSTER SLOTS as [start, end, masterPort] triples. */
async function slotRanges(conn: Redis): Promise<Array<[number, number, number]>> {
  const reply = (await conn.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
  return reply.map(([start, end, master]) => [start, end, Number(master[1])]);
}

export async function startCluster(t: HasTeardown, opts: { masters?: number; replicas?: number } = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 1;
  const nodes: RedisNode[] = [];
  const dir = tempDir(t, nodes, 'herald-cluster-');
  const admins: Redis[] = [];
  t.teardown(() => admins.forEach((a) => a.disconnect()));
  const count = masters * (1 + replicas);
  await Promise.all(
    Array.from({ length: count }, async () => {
      // The cluster bus gets a free port of its own (default port + 10000 may be taken), and
      // a port taken between freePort() and the bind is retried on new ones.
      for (let attempt = 0; ; attempt++) {
        const [port, bus] = [await freePort(), await freePort()];
        const args = [
          ...BASE,
          '--port', String(port),
          '--cluster-port', String(bus),
          '--dir', dir,
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '1000',
          // A replica may always take over, however long it was cut off (tests kill masters).
          '--cluster-replica-validity-factor', '0',
        ];
        try {
          nodes.push(await spawnNode('redis-server', args, port));
          return;
        } catch (err) {
          if (attempt >= 4) throw err;
        }
      }
    }),
  );
  nodes.sort((a, b) => a.port - b.port);
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.port).map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
    timeout: 30_000,
  });
  const admin = (port: number): Redis => {
    const conn = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
    conn.on('error', () => {});
    admins.push(conn);
    return conn;
  };
  const live = (): RedisNode[] => nodes.filter((n) => n.isRunning());
  const withLive = async <T>(fn: (conn: Redis) => Promise<T>): Promise<T> => {
    const conn = admin(live()[0]!.port);
    try {
      return await fn(conn);
    } finally {
      conn.disconnect();
    }
  };
  const cluster: RedisCluster = {
    nodes,
    seeds: nodes.map((n) => n.addr),
    admin,
    ownerOf: (slot) =>
      withLive(async (conn) => {
        const range = (await slotRanges(conn)).find(([s, e]) => slot >= s && slot <= e);
        if (range === undefined) throw new Error(`slot ${slot} has no owner`);
        return range[2];
      }),
    ranges: () => withLive(slotRanges),
    masters: () => withLive(async (conn) => [...new Set((await slotRanges(conn)).map((r) => r[2]))].sort((a, b) => a - b)),
    nodeId: async (port) => {
      const conn = admin(port);
      try {
        return String(await conn.call('CLUSTER', 'MYID'));
      } finally {
        conn.disconnect();
      }
    },
    async waitHealthy(timeoutMs = 20_000) {
      await waitFor(
        async () => {
          const views = await Promise.all(
            live().map(async (n) => {
              const conn = admin(n.port);
              try {
                const info = String(await conn.call('CLUSTER', 'INFO'));
                if (!info.includes('cluster_state:ok')) return null;
                const ranges = await slotRanges(conn);
                const covered = ranges.reduce((sum, [s, e]) => sum + e - s + 1, 0);
                return covered === 16384 ? JSON.stringify(ranges.map((r) => r[2]).sort()) : null;
              } finally {
                conn.disconnect();
              }
            }),
          );
          return views.every((v) => v !== null && v === views[0]);
        },
        { timeoutMs, intervalMs: 100, what: 'cluster healthy and agreed on its masters' },
      );
    },
  };
  await cluster.waitHealthy();
  return cluster;
}

/** Moves `slots` slots from the master on `fromPort` to the one on `toPort`, as an operator would. */
export async function reshard(cluster: RedisCluster, fromPort: number, toPort: number, slots = 1): Promise<void> {
  const [from, to] = await Promise.all([cluster.nodeId(fromPort), cluster.nodeId(toPort)]);
  await run(
    'redis-cli',
    ['--cluster', 'reshard', `127.0.0.1:${fromPort}`, '--cluster-from', from, '--cluster-to', to, '--cluster-slots', String(slots), '--cluster-yes'],
    { timeout: 30_000 },
  );
}

export interface SentinelGroup {
  readonly master: RedisNode;
  readonly replica: RedisNode;
  readonly sentinels: readonly RedisNode[];
  readonly masterName: string;
  /** Port of the master the sentinels currently report. */
  currentMasterPort(): Promise<number>;
}

/** 1 master + 1 replica + 3 sentinels (quorum 2, down after 1 s). */
export async function startSentinels(t: HasTeardown): Promise<SentinelGroup> {
  const nodes: RedisNode[] = [];
  const dir = tempDir(t, nodes, 'herald-sentinel-');
  const masterName = 'herald-test';
  const [mp, rp, ...sps] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
  const master = await spawnNode('redis-server', [...BASE, '--port', String(mp), '--dir', dir], mp!);
  nodes.push(master);
  const replica = await spawnNode('redis-server', [...BASE, '--port', String(rp), '--dir', dir, '--replicaof', '127.0.0.1', String(mp)], rp!);
  nodes.push(replica);
  const sentinels: RedisNode[] = [];
  for (const sp of sps) {
    const file = join(dir, `sentinel-${sp}.conf`);
    writeFileSync(
      file,
      [
        `port ${sp}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${mp} 2`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    const node = await spawnNode('redis-server', [file, '--sentinel'], sp);
    nodes.push(node);
    sentinels.push(node);
  }
  const currentMasterPort = async (): Promise<number> => {
    const s = sentinels.find((n) => n.isRunning())!;
    const conn = new Redis({ host: '127.0.0.1', port: s.port, maxRetriesPerRequest: 1, retryStrategy: () => null });
    conn.on('error', () => {});
    try {
      const reply = (await conn.call('SENTINEL', 'get-master-addr-by-name', masterName)) as [string, string];
      return Number(reply[1]);
    } finally {
      conn.disconnect();
    }
  };
  // Sentinels must have found the replica and each other before a failover can happen.
  await waitFor(
    async () => {
      const conn = new Redis({ host: '127.0.0.1', port: sentinels[0]!.port, maxRetriesPerRequest: 1, retryStrategy: () => null });
      conn.on('error', () => {});
      try {
        const info = (await conn.call('SENTINEL', 'master', masterName)) as string[];
        const field = (k: string): number => Number(info[info.indexOf(k) + 1]);
        return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
      } finally {
        conn.disconnect();
      }
    },
    { timeoutMs: 20_000, intervalMs: 200, what: 'sentinels to discover the replica and each other' },
  );
  return { master, replica, sentinels, masterName, currentMasterPort };
}

/**
 * `count` channel names `${prefix}:<n>` for each master, by the slot map of `ranges`, so a test
 * can spread channels over every shard. Keyed by master port.
 */
export function channelsPerMaster(ranges: ReadonlyArray<[number, number, number]>, prefix: string, count = 1): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [, , port] of ranges) out.set(port, []);
  for (let i = 0; [...out.values()].some((list) => list.length < count); i++) {
    const name = `${prefix}:${i}`;
    const slot = calculateSlot(name);
    const port = ranges.find(([s, e]) => slot >= s && slot <= e)![2];
    const list = out.get(port)!;
    if (list.length < count) list.push(name);
  }
  return out;
}

/** A channel name `${prefix}:<n>` whose slot is exactly `slot`. */
export function channelInSlot(prefix: string, slot: number): string {
  for (let i = 0; ; i++) if (calculateSlot(`${prefix}:${i}`) === slot) return `${prefix}:${i}`;
}

/** Herald's config for `cluster` with public channels `${prefix}:{name}`; short timeouts for tests. */
export function clusterConfig(cluster: RedisCluster, prefix: string, mode: 'sharded' | 'classic' = 'sharded'): string {
  return `
broker:
  type: cluster
  cluster: { nodes: [${cluster.seeds.map((s) => `"${s}"`).join(', ')}], mode: ${mode} }
  reconnectMin: 50ms
  reconnectMax: 300ms
  probeInterval: 500ms
  probeTimeout: 500ms
channels:
  - { pattern: "${prefix}:{name}", access: public }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 20s, heartbeat: 25s, idle: 120s }
    - { name: tiny, lifetime: 300s, pollHold: 300ms, heartbeat: 25s, idle: 120s }
log: { level: info }
`;
}

/** An app's publisher: ioredis Cluster, SPUBLISH routed to the channel's shard. */
export function appPublisher(t: { teardown(fn: () => unknown): void }, cluster: RedisCluster): Cluster {
  const pub = new Cluster(cluster.seeds.map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })));
  pub.on('error', () => {});
  t.teardown(() => pub.disconnect());
  return pub;
}

/** Messages carry 1, 2, 3…: every jump in that sequence must have a reset event before it. */
export function assertNoSilentGap(t: { fail(m: string): void; pass(m: string): void; comment(m: string): void }, s: { readonly events: readonly SseEvent[] }): void {
  let last = 0;
  let resetSeen = false;
  let gaps = 0;
  let resets = 0;
  for (const e of s.events) {
    if (e.event === 'reset') {
      resetSeen = true;
      resets++;
      continue;
    }
    if (e.event !== 'message') continue;
    const n = Number(e.data);
    if (n !== last + 1 && last !== 0) {
      gaps++;
      if (!resetSeen) t.fail(`silent gap: ${last} then ${n} with no reset between`);
    }
    last = n;
    resetSeen = false;
  }
  t.comment(`${gaps} gap(s) in the sequence, ${resets} reset(s) announced`);
  t.pass('every gap was announced by a reset');
}
