import t from 'tap';
import { RedisClusterBroker } from '../../src/broker/redis-cluster.js';
import { slotOf } from '../../src/broker/redis-slots.js';
import type { BrokerConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import { startCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait.js';
import { brokerContract, RecordingHandler, uniquePrefix } from './broker.contract.js';

// The Broker contract against a real 3-master + 3-replica cluster in sharded mode, plus what
// is particular to it: one subscriber connection per master, SSUBSCRIBE per slot group.

const cluster: RedisCluster = await startCluster(t);

function clusterBroker(): RedisClusterBroker {
  const config: BrokerConfig = {
    kind: 'cluster',
    url: 'redis://127.0.0.1:6379',
    cluster: { nodes: cluster.nodes.slice(0, 2).map((n) => ({ host: '127.0.0.1', port: n.port })), mode: 'sharded' },
    sentinel: { nodes: [], masterName: '' },
    lingerMs: 0,
    probeIntervalMs: 200,
    probeTimeoutMs: 600,
    reconnectMinMs: 50,
    reconnectMaxMs: 400,
    probeChannel: 'herald:probe',
  };
  return new RedisClusterBroker(config, createLogger('silent'), { reconnect() {}, probeMissed() {} });
}

brokerContract(t, 'redis-cluster', clusterBroker);

/** CLIENT LIST rows named herald:sub:<pid> on `port`, as key=value maps. */
async function subscribers(port: number): Promise<Array<Map<string, string>>> {
  const admin = cluster.admin(port);
  try {
    return String(await admin.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=herald:sub:${process.pid} `))
      .map((line) => new Map(line.trim().split(' ').map((kv) => kv.split('=', 2) as [string, string])));
  } finally {
    admin.disconnect();
  }
}

async function ssubscribeCalls(port: number): Promise<number> {
  const admin = cluster.admin(port);
  try {
    const m = /cmdstat_ssubscribe:calls=(\d+)/.exec(await admin.info('commandstats'));
    return m === null ? 0 : Number(m[1]);
  } finally {
    admin.disconnect();
  }
}

t.test('one subscriber connection per shard master, whatever the channel count; one SSUBSCRIBE per slot', async (t) => {
  const broker = clusterBroker();
  const handler = new RecordingHandler();
  t.teardown(() => broker.close());
  await broker.start(handler);
  await waitFor(() => broker.status === 'ready', { timeoutMs: 5000, what: 'cluster broker ready' });
  const masters = await cluster.masters();
  await Promise.all(masters.map(async (m) => cluster.admin(m).config('RESETSTAT')));
  const prefix = uniquePrefix();
  // 600 channels, 200 of them sharing a hash tag (one slot), the rest spread over all slots.
  const channels = [
    ...Array.from({ length: 400 }, (_, i) => `${prefix}c${i}`),
    ...Array.from({ length: 200 }, (_, i) => `${prefix}{room}:${i}`),
  ];
  await handler.subscribe(broker, channels);
  const slots = new Set(channels.map(slotOf));
  let total = 0;
  let calls = 0;
  for (const m of masters) {
    const subs = await subscribers(m);
    t.equal(subs.length, 1, `exactly one subscriber connection on master ${m}`);
    total += Number(subs[0]?.get('ssub') ?? 0);
    calls += await ssubscribeCalls(m);
  }
  t.equal(total, channels.length + masters.length, 'every channel once, plus one probe channel per shard');
  t.equal(calls, slots.size, `${slots.size} SSUBSCRIBE commands for ${slots.size} distinct slots`);
  t.same(
    broker.shards().map((s) => s.status),
    ['ready', 'ready', 'ready'],
  );
  t.equal(await broker.publish(`${prefix}{room}:7`, 'x'), 1, 'SPUBLISH reaches the one subscriber');
  await waitFor(() => handler.payloadsOf(`${prefix}{room}:7`).length === 1, { timeoutMs: 5000, what: 'the message' });
});
