import t from 'tap';
import { WsClient } from '../helpers/clients.js';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { appPublisher, assertNoSilentGap, channelsPerMaster, clusterConfig, startCluster } from '../helpers/redis-cluster.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

// A shard master SIGKILLed in a real 3-master + 3-replica cluster: its replica is promoted,
// Herald resubscribes that shard's channels on it, and only their clients get a reset.

t.test('shard master killed: replica promoted, Herald resubscribes, affected clients reset, others untouched', async (t) => {
  const cluster = await startCluster(t);
  const p = uniquePrefix();
  const h = await startHerald(t, { config: clusterConfig(cluster, p) });
  const ranges = await cluster.ranges();
  const byMaster = channelsPerMaster(ranges, p, 1);
  const [victim, survivor] = await cluster.masters();
  const hit = byMaster.get(victim!)![0]!;
  const spared = byMaster.get(survivor!)![0]!;
  const victimSlot = ranges.find((r) => r[2] === victim)![0];

  const sse = { hit: await RawSse.open(`${h.url}/sse?channel=${hit}`), spared: await RawSse.open(`${h.url}/sse?channel=${spared}`) };
  t.teardown(() => Object.values(sse).forEach((s) => s.close()));
  const ws = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => ws.close());
  t.equal((await ws.subscribe(hit)).type, 'subscribed');
  await Promise.all(Object.values(sse).map((s) => s.until(() => s.retry !== null)));

  // The app keeps publishing a numbered sequence on both channels; failed SPUBLISHes (the
  // shard is down) are not counted, so every number that exists was accepted by Redis.
  const app = appPublisher(t, cluster);
  const seq = { hit: 0, spared: 0 };
  let publishing = true;
  const loop = (async () => {
    while (publishing) {
      for (const [k, channel] of [['hit', hit], ['spared', spared]] as const) {
        const n = seq[k] + 1;
        await app.spublish(channel, String(n)).then(() => (seq[k] = n), () => {});
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  t.teardown(async () => {
    publishing = false;
    await loop;
  });
  await sse.hit.waitForMessages(5);

  const killedAt = Date.now();
  await cluster.nodes.find((n) => n.port === victim)!.kill();
  await waitFor(async () => (await fetch(`${h.url}/readyz`)).status === 503, { timeoutMs: 5000, what: '/readyz 503 while the shard is down' });
  const down = (await (await fetch(`${h.url}/readyz`)).json()) as { shards: Array<{ node: string; status: string }> };
  t.not(down.shards.find((s) => s.node === `127.0.0.1:${victim}`)?.status, 'ready', '/readyz names the shard that is down');
  await waitFor(async () => (await cluster.ownerOf(victimSlot).catch(() => victim)) !== victim, { timeoutMs: 20_000, intervalMs: 100, what: 'replica promoted' });
  const promotedMs = Date.now() - killedAt;
  await waitFor(async () => (await fetch(`${h.url}/readyz`)).status === 200, { timeoutMs: 15_000, intervalMs: 50, what: '/readyz ready again' });
  const readyMs = Date.now() - killedAt;
  const hitBefore = sse.hit.messages().length;
  await sse.hit.until(() => sse.hit.messages().length >= hitBefore + 5, 10_000, 'messages on the promoted replica');
  const flowingMs = Date.now() - killedAt;
  t.comment(`failover: replica promoted after ${promotedMs} ms; Herald ready after ${readyMs} ms; messages flowing after ${flowingMs} ms (from SIGKILL)`);
  t.ok(readyMs - promotedMs < 5000, `Herald resubscribed within seconds of the promotion (${readyMs - promotedMs} ms)`);

  publishing = false;
  await loop;
  await sse.spared.until(() => sse.spared.messages().length >= seq.spared, 5000, 'every spared message');
  await sse.hit.until(() => Number(sse.hit.messages().at(-1)?.data) === seq.hit, 5000, 'the last hit message');

  t.ok(sse.hit.events.some((e) => e.event === 'reset'), 'the client on the failed shard got an explicit reset');
  t.same(JSON.parse(sse.hit.events.find((e) => e.event === 'reset')!.data), { channel: hit, reason: 'broker_gap' });
  assertNoSilentGap(t, sse.hit);
  t.ok(ws.frames.some((f) => f.type === 'reset' && f.channel === hit), 'the WebSocket client got the reset too');
  t.notOk(sse.spared.events.some((e) => e.event === 'reset'), 'a client on another shard got no reset');
  t.same(sse.spared.messages().map((e) => Number(e.data)), Array.from({ length: seq.spared }, (_, i) => i + 1), 'and lost nothing');

  const newOwner = await cluster.ownerOf(victimSlot);
  const admin = cluster.admin(newOwner);
  const subs = String(await admin.client('LIST')).split('\n').filter((l) => l.includes(` name=herald:sub:${h.pid} `));
  admin.disconnect();
  t.equal(subs.length, 1, 'one Herald subscriber connection on the promoted master');
});
