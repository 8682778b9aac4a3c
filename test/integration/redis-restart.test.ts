import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { startRedis } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

// Stopping Redis needs a server of our own, whatever REDIS_URL says.

/** A Redis of our own, a Herald on it with these broker timings, and one SSE client on `<p>:live`. */
async function heraldOnOwnRedis(t: Test, brokerTimings: string) {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
broker: { type: redis, url: "${redis.url}", ${brokerTimings} }
channels:
  - { pattern: "${p}:{name}", access: public }
log: { level: info }
`,
  });
  const channel = `${p}:live`;
  const s = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  t.teardown(() => s.close());
  await s.until(() => s.retry !== null);
  return { redis, h, channel, s };
}

t.test('Redis stopped and restarted mid-stream: daemon stays up, readiness follows, subscriptions come back', async (t) => {
  const { redis, h, channel, s } = await heraldOnOwnRedis(t, 'reconnectMin: 50ms, reconnectMax: 300ms, probeInterval: 500ms, probeTimeout: 500ms');
  let pub = new Redis(redis.url);
  await pub.publish(channel, 'before');
  await s.waitForMessages(1);
  await pub.quit();

  await redis.stop();
  await waitFor(async () => (await fetch(`${h.url}/readyz`)).status === 503, { timeoutMs: 5000, what: '/readyz not ready' });
  const body = (await (await fetch(`${h.url}/readyz`)).json()) as { broker: string };
  t.not(body.broker, 'ready', `readyz reports broker ${body.broker}`);
  t.equal((await fetch(`${h.url}/healthz`)).status, 200, 'still alive');
  const pubRes = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel, data: 'x' }) });
  t.equal(pubRes.status, 503, 'publish API fails fast while Redis is down');
  t.equal(pubRes.headers.get('retry-after'), '2', 'with Retry-After, as every broker_unavailable answer');
  t.equal(((await pubRes.json()) as { error: { code: string } }).error.code, 'broker_unavailable');

  await redis.restart();
  await waitFor(async () => (await fetch(`${h.url}/readyz`)).status === 200, { timeoutMs: 10_000, what: '/readyz ready again' });
  await s.until(() => s.events.some((e) => e.event === 'reset'), 5000, 'reset after the gap');
  const reset = s.events.find((e) => e.event === 'reset')!;
  t.same(JSON.parse(reset.data), { channel, reason: 'broker_gap' }, 'the live client is told messages may have been lost');
  pub = new Redis(redis.url);
  t.teardown(() => pub.quit());
  t.same(await pub.pubsub('NUMSUB', channel), [channel, 1], 'subscription restored');
  await pub.publish(channel, 'after');
  await s.waitForMessages(2);
  t.same(s.messages().map((e) => e.data), ['before', 'after']);
  const fresh = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  t.teardown(() => fresh.close());
  await fresh.until(() => fresh.retry !== null);
  await pub.publish(channel, 'new client too');
  await fresh.waitForMessages(1);
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  t.match(metrics, /herald_broker_connected 1/);
  t.match(metrics, /herald_broker_reconnects_total [1-9]/);
});

t.test('only the publisher link cut (as after a failover): POST /publish waits for it instead of a 503', async (t) => {
  const { redis, h, channel, s } = await heraldOnOwnRedis(t, 'reconnectMin: 200ms, reconnectMax: 400ms, probeInterval: 5s, probeTimeout: 2s');
  const admin = new Redis(redis.url);
  t.teardown(() => admin.quit());
  // The subscriber link stays up (/readyz ready); the publisher reconnects after 200-400 ms.
  const list = String(await admin.client('LIST'));
  const id = /^id=(\d+) .*name=herald:pub:/m.exec(list)?.[1];
  t.ok(id !== undefined, 'the publisher link is named herald:pub:<pid>');
  t.equal(Number(await admin.client('KILL', 'ID', id!)), 1, 'the publisher link was cut');
  t.equal((await fetch(`${h.url}/readyz`)).status, 200, 'readyz still ready: the subscriber link is up');
  const started = performance.now();
  const res = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel, data: 'after the cut' }) });
  const ms = performance.now() - started;
  t.equal(res.status, 200, `published once the link was back (${Math.round(ms)} ms)`);
  t.ok(ms < 2000, 'within probeTimeout');
  await s.until(() => s.messages().some((e) => e.data === 'after the cut'), 5000, 'the message');
});
