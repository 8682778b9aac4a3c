import t from 'tap';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis.js';
import type { BrokerConfig } from '../../src/config/types.js';
import { InterestTracker, realScheduler } from '../../src/hub/interest.js';
import { createLogger } from '../../src/log.js';
import { sharedRedisUrl, startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { brokerContract, RecordingHandler, uniquePrefix } from './broker.contract.js';

const SUB_NAME = `herald:sub:${process.pid}`;
const PUB_NAME = `herald:pub:${process.pid}`;

function brokerConfig(url: string, over: Partial<BrokerConfig> = {}): BrokerConfig {
  return {
    kind: 'redis',
    url,
    cluster: { nodes: [], mode: 'sharded' },
    sentinel: { nodes: [], masterName: '' },
    lingerMs: 0,
    probeIntervalMs: 200,
    probeTimeoutMs: 600,
    reconnectMinMs: 50,
    reconnectMaxMs: 400,
    probeChannel: 'herald:probe',
    ...over,
  };
}

/** The parts of a tap test the helpers use. */
interface TestLike {
  teardown(fn: () => unknown): void;
  passing(): boolean;
  comment(...args: unknown[]): void;
}

interface Harness {
  broker: RedisBroker;
  handler: RecordingHandler;
  stats: { reconnects: number; probesMissed: number };
  logs: string[];
  admin: Redis;
}

/** A started broker on `server` plus a plain admin client, all closed at teardown. */
async function harness(t: TestLike, server: RedisServer, over: Partial<BrokerConfig> = {}): Promise<Harness> {
  const logs: string[] = [];
  const stats = { reconnects: 0, probesMissed: 0 };
  const broker = new RedisBroker(brokerConfig(server.url, over), createLogger('debug', (l) => logs.push(l)), {
    reconnect: () => stats.reconnects++,
    probeMissed: () => stats.probesMissed++,
  });
  const handler = new RecordingHandler();
  const admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: null });
  t.teardown(async () => {
    await broker.close();
    admin.disconnect();
  });
  t.teardown(() => {
    if (t.passing() && process.env['HERALD_TEST_LOGS'] === undefined) return;
    t.comment(logs.join(''));
  });
  await admin.connect();
  await broker.start(handler);
  await waitFor(() => broker.status === 'ready', { timeoutMs: 5000, what: 'broker ready' });
  return { broker, handler, stats, logs, admin };
}

async function ownServer(t: TestLike): Promise<RedisServer> {
  const server = await startRedis();
  t.teardown(() => server.stop());
  return server;
}

/** CLIENT LIST entries with this connection name, as key=value maps. */
async function clientsNamed(admin: Redis, name: string): Promise<Array<Map<string, string>>> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => new Map(line.trim().split(' ').map((kv) => kv.split('=', 2) as [string, string])))
    .filter((fields) => fields.get('name') === name);
}

async function numsub(admin: Redis, channel: string): Promise<number> {
  const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

async function commandCalls(admin: Redis, command: string): Promise<number> {
  const info = await admin.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match === null ? 0 : Number(match[1]);
}

const url = await sharedRedisUrl(t);
brokerContract(t, 'redis', () => new RedisBroker(brokerConfig(url), createLogger('silent'), { reconnect() {}, probeMissed() {} }));

t.test('one subscriber connection whatever the channel count', async (t) => {
  const server = await ownServer(t);
  const { broker, handler, admin } = await harness(t, server);
  const prefix = uniquePrefix();
  const channels = Array.from({ length: 500 }, (_, i) => `${prefix}c${i}`);
  await handler.subscribe(broker, channels);
  let subs = await clientsNamed(admin, SUB_NAME);
  t.equal(subs.length, 1, 'exactly one subscriber connection');
  t.equal(subs[0]?.get('sub'), '501', '500 channels plus the probe channel on it');
  t.equal((await clientsNamed(admin, PUB_NAME)).length, 1, 'one separate publisher connection');
  for (const c of [channels[0]!, channels[250]!, channels[499]!]) t.equal(await numsub(admin, c), 1, `NUMSUB ${c}`);
  for (let batch = 0; batch < 5; batch++) {
    await handler.subscribe(broker, Array.from({ length: 100 }, (_, i) => `${prefix}more${batch}-${i}`));
  }
  subs = await clientsNamed(admin, SUB_NAME);
  t.equal(subs.length, 1, 'still one subscriber connection');
  t.equal(subs[0]?.get('sub'), '1001');
  t.equal(broker.subscriberCount, 1);
});

t.test('a burst of interest changes becomes one SUBSCRIBE and one UNSUBSCRIBE', async (t) => {
  const server = await ownServer(t);
  const { broker, handler, admin } = await harness(t, server);
  const tracker = new InterestTracker({ subscribe: (l) => broker.subscribe(l), unsubscribe: (l) => broker.unsubscribe(l) }, realScheduler);
  handler.desiredChannels = () => tracker.desired();
  t.teardown(() => tracker.close());
  const prefix = uniquePrefix();
  const channels = Array.from({ length: 300 }, (_, i) => `${prefix}b${i}`);
  await admin.config('RESETSTAT');
  for (const c of channels) tracker.acquire(c);
  await waitFor(() => channels.every((c) => handler.isLive(c)), { timeoutMs: 5000, what: 'onLive for the burst' });
  t.equal(await commandCalls(admin, 'subscribe'), 1, 'one SUBSCRIBE for 300 acquires');
  t.equal(handler.live.at(-1)?.length, 300, 'one onLive for the batch');
  for (const c of channels) tracker.release(c, 0);
  await waitFor(async () => (await numsub(admin, channels[299]!)) === 0, { timeoutMs: 5000, what: 'unsubscribed' });
  t.equal(await commandCalls(admin, 'unsubscribe'), 1, 'one UNSUBSCRIBE for 300 releases');
  t.equal(await numsub(admin, channels[0]!), 0);
});

t.test('Redis restart: status leaves ready, then only the current desired set is resubscribed', async (t) => {
  const server = await ownServer(t);
  const { broker, handler, stats, admin } = await harness(t, server);
  const prefix = uniquePrefix();
  const [kept, released] = [`${prefix}kept`, `${prefix}released`];
  await handler.subscribe(broker, [kept, released]);
  const liveBatchesBefore = handler.live.length;

  await server.stop();
  await waitFor(() => broker.status === 'reconnecting', { timeoutMs: 5000, what: 'status reconnecting' });
  t.same(handler.statuses.slice(-2), ['ready', 'reconnecting'], 'onStatus told the hub it left ready');
  await t.rejects(broker.publish(kept, 'while down'), { code: 'broker_unavailable' }, 'publish fails fast while down');
  // Released during the outage: the edge is a no-op now, and the resubscribe must not restore it.
  handler.desired.delete(released);
  broker.unsubscribe([released]);

  await server.restart();
  await waitFor(() => broker.status === 'ready', { timeoutMs: 10_000, what: 'ready after restart' });
  t.ok(stats.reconnects > 0, 'reconnects counted');
  const liveAfter = handler.live.slice(liveBatchesBefore).flat();
  t.ok(liveAfter.includes(kept), 'onLive for the kept channel');
  t.notOk(liveAfter.includes(released), 'no onLive for the released channel');
  await waitFor(() => admin.status === 'ready', { timeoutMs: 5000, what: 'admin reconnected' });
  t.equal(await numsub(admin, kept), 1, 'kept channel resubscribed');
  t.equal(await numsub(admin, released), 0, 'released channel NOT resubscribed');
  t.equal((await clientsNamed(admin, SUB_NAME)).length, 1, 'still one subscriber connection');
  await waitFor(async () => (await broker.publish(kept, 'after').catch(() => -1)) === 1, { timeoutMs: 5000, what: 'publisher back' });
  await waitFor(() => handler.payloadsOf(kept).some((p) => p.toString() === 'after'), { timeoutMs: 5000, what: 'message after restart' });
});

t.test('Redis down at start: start resolves, status connecting, ready once Redis appears', async (t) => {
  const server = await ownServer(t);
  await server.stop();
  const broker = new RedisBroker(brokerConfig(server.url), createLogger('silent'), { reconnect() {}, probeMissed() {} });
  t.teardown(() => broker.close());
  const handler = new RecordingHandler();
  const channel = `${uniquePrefix()}boot`;
  handler.desired.add(channel);
  await broker.start(handler);
  t.equal(broker.status, 'connecting');
  await t.rejects(broker.publish(channel, 'x'), { code: 'broker_unavailable' });
  await server.restart();
  await waitFor(() => broker.status === 'ready', { timeoutMs: 10_000, what: 'ready once Redis is up' });
  t.ok(handler.isLive(channel), 'desired set subscribed on first connect');
});

t.test('silent dead link: a missed probe leaves ready; resume restores it', async (t) => {
  const server = await ownServer(t);
  const { broker, handler, stats, logs } = await harness(t, server);
  const channel = `${uniquePrefix()}probe`;
  await handler.subscribe(broker, [channel]);
  // Probes come back while healthy, so status stays ready across several intervals.
  const missedBefore = stats.probesMissed;
  server.pause();
  t.teardown(() => server.resume());
  await waitFor(() => broker.status !== 'ready', { timeoutMs: 5000, what: 'status leaves ready on a missed probe' });
  t.equal(broker.status, 'reconnecting');
  t.ok(stats.probesMissed > missedBefore, 'probe miss counted');
  t.ok(logs.some((l) => l.includes('liveness probe missed')), 'probe miss logged');
  t.equal(handler.statuses.at(-1), 'reconnecting', 'hub told');
  server.resume();
  await waitFor(() => broker.status === 'ready', { timeoutMs: 10_000, what: 'ready after resume' });
  await waitFor(async () => (await broker.publish(channel, 'alive').catch(() => -1)) === 1, { timeoutMs: 5000, what: 'publisher back' });
  await waitFor(() => handler.payloadsOf(channel).length === 1, { timeoutMs: 5000, what: 'message after resume' });
  t.notOk(handler.messages.some((m) => m.channel.startsWith('herald:probe')), 'probe messages never reach onMessage');
});
