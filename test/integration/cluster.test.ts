import t from 'tap';
import { WsClient, poll } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { appPublisher, assertNoSilentGap, channelInSlot, channelsPerMaster, clusterConfig, reshard, startCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { RawSse } from '../helpers/sse.js';

// A real 3-master + 3-replica Redis Cluster, Herald in sharded mode (SSUBSCRIBE per shard).
// The slow failover cases are in cluster-failover.test.ts.

/** herald:sub connections of process `pid` on the node at `port`. */
async function heraldSubscribers(cluster: RedisCluster, port: number, pid: number): Promise<number> {
  const admin = cluster.admin(port);
  try {
    const list = String(await admin.client('LIST'));
    return list.split('\n').filter((line) => line.includes(` name=herald:sub:${pid} `)).length;
  } finally {
    admin.disconnect();
  }
}

t.test('Redis Cluster, sharded mode', async (t) => {
  const cluster = await startCluster(t);
  const p = uniquePrefix();
  const h: HeraldProcess = await startHerald(t, { config: clusterConfig(cluster, p) });
  const masters = await cluster.masters();
  t.equal(masters.length, 3);

  await t.test('channels on all three shards deliver over SSE, WebSocket and long-poll', async (t) => {
    const byMaster = channelsPerMaster(await cluster.ranges(), p, 1);
    const channels = masters.map((m) => byMaster.get(m)![0]!);
    const sse = await Promise.all(channels.map((c) => RawSse.open(`${h.url}/sse?channel=${c}`)));
    t.teardown(() => sse.forEach((s) => s.close()));
    await Promise.all(sse.map((s) => s.until(() => s.retry !== null)));
    const ws = await WsClient.open(`${h.wsUrl}/ws`);
    t.teardown(() => ws.close());
    for (const c of channels) t.equal((await ws.subscribe(c)).type, 'subscribed');
    const first = await poll(h.url, channels, { client: 'tiny' });
    const held = poll(h.url, channels, { cursor: first.body.cursor });

    const app = appPublisher(t, cluster);
    for (const [i, c] of channels.entries()) {
      // Apps SPUBLISH; POST /publish does the same. Each reaches its own shard only.
      t.equal(Number(await app.spublish(c, `app-${i}`)), 1, `SPUBLISH ${c} reaches one Herald subscriber`);
      const res = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel: c, data: `api-${i}` }) });
      t.equal(res.status, 200, 'POST /publish');
    }
    for (const [i, s] of sse.entries()) {
      await s.waitForMessages(2);
      t.same(s.messages().map((e) => e.data), [`app-${i}`, `api-${i}`], `SSE on shard ${masters[i]}`);
    }
    await ws.waitForMessages(6);
    for (const [i, c] of channels.entries()) t.same(ws.messages(c).map((f) => f.data), [`app-${i}`, `api-${i}`], `WS ${c}`);
    const answer = await held;
    t.ok(answer.body.messages.length >= 1, 'the held poll answers with the first message');
    const rest = await poll(h.url, channels, { cursor: answer.body.cursor });
    t.equal(answer.body.messages.length + rest.body.messages.length, 6, 'poll sees all six, over its cursor');

    for (const port of masters) t.equal(await heraldSubscribers(cluster, port, h.pid), 1, `one Herald subscriber connection on master ${port}`);
    const ready = (await (await fetch(`${h.url}/readyz`)).json()) as { status: string; shards: Array<{ node: string; status: string; slots: number }> };
    t.equal(ready.status, 'ready');
    t.same(ready.shards.map((s) => s.status), ['ready', 'ready', 'ready'], '/readyz lists three ready shards');
    t.equal(ready.shards.reduce((n, s) => n + s.slots, 0), 16384);
    const metrics = await scrape(h.url);
    t.equal(metricValue(metrics, 'herald_broker_shards'), 3);
    t.equal(metrics.match(/^herald_broker_shard_up\{shard="[^"]+"\} 1$/gm)?.length, 3, 'per-shard up gauge');
  });

  await t.test('a slot moved with redis-cli --cluster reshard is followed: reset, then live on the new owner', async (t) => {
    const ranges = await cluster.ranges();
    const [start, , from] = ranges[0]!;
    const to = masters.find((m) => m !== from)!;
    // reshard moves the source's lowest slots first.
    const channel = channelInSlot(p, start);
    const s = await RawSse.open(`${h.url}/sse?channel=${channel}`);
    t.teardown(() => s.close());
    await s.until(() => s.retry !== null);
    const app = appPublisher(t, cluster);
    let seq = 0;
    let publishing = true;
    const loop = (async () => {
      while (publishing) {
        await app.spublish(channel, String(++seq)).catch(() => seq--);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await s.waitForMessages(3);
    const moveStarted = Date.now();
    await reshard(cluster, from, to, 1);
    t.equal(await cluster.ownerOf(start), to, `slot ${start} now on ${to}`);
    const before = s.messages().length;
    await s.until(() => s.messages().length >= before + 5, 10_000, 'messages from the new owner');
    t.comment(`slot move to messages flowing again: ${Date.now() - moveStarted} ms`);
    publishing = false;
    await loop;
    assertNoSilentGap(t, s);
    const ready = (await (await fetch(`${h.url}/readyz`)).json()) as { shards: Array<{ node: string; slots: number }> };
    t.equal(ready.shards.find((x) => x.node === `127.0.0.1:${to}`)?.slots, ranges.filter((r) => r[2] === to).reduce((n, [a, b]) => n + b - a + 1, 1));
  });

  await t.test('classic mode: SUBSCRIBE on one node, apps PUBLISH on any node', async (t) => {
    const classic = await startHerald(t, { config: clusterConfig(cluster, p, 'classic') });
    const channel = `${p}:classic`;
    const s = await RawSse.open(`${classic.url}/sse?channel=${channel}`);
    t.teardown(() => s.close());
    await s.until(() => s.retry !== null);
    // PUBLISH on a node that is not the one Herald subscribed on: the cluster bus broadcasts it.
    const far = cluster.admin(cluster.nodes.at(-1)!.port);
    await far.publish(channel, 'broadcast');
    far.disconnect();
    // The cluster bus forwards that publish asynchronously, and /publish below may reach the
    // subscribed node first: Redis promises no order between two nodes' publishes (a CI run
    // saw ['api', 'broadcast']), so the second is sent once the first has arrived.
    await s.waitForMessages(1);
    const res = await fetch(`${classic.url}/publish`, { method: 'POST', body: JSON.stringify({ channel, data: 'api' }) });
    t.equal(res.status, 200);
    await s.waitForMessages(2);
    t.same(s.messages().map((e) => e.data), ['broadcast', 'api']);
    const counts = await Promise.all(cluster.nodes.map((n) => heraldSubscribers(cluster, n.port, classic.pid)));
    t.equal(counts.reduce((a, b) => a + b, 0), 1, 'one subscriber connection in the whole cluster');
    const metrics = await scrape(classic.url);
    t.ok(Number.isNaN(metricValue(metrics, 'herald_broker_shards')), 'no per-shard metrics in classic mode');
  });

  t.equal(await h.stop(), 0, 'clean shutdown');
});
