import type { Socket } from 'node:net';
import t from 'tap';
import { metricValue, scrape, startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { promtoolCheck } from '../helpers/promtool.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const { redisUrl, pub } = await redisWithPublisher(t);

const config = (prefix: string): string => `
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 20, maxAge: 1m } }
  - { pattern: "${prefix}secret:{name}", access: token }
jwt: { secret: "a-test-secret-that-is-long-enough-for-hs256" }
publish: { allowLoopback: false, keys: [ { key: "right-key", scopes: ["${prefix}*"] } ] }
limits: { maxBufferedBytes: 64kb, maxMessageBytes: 1mb }
log: { level: warn }
`;

/** The counters and gauges this test moves, read from one scrape. */
interface Reading {
  readonly opened: number;
  readonly open: number;
  readonly received: number;
  readonly delivered: number;
  readonly slow: number;
  readonly closedSlow: number;
  readonly authMissing: number;
  readonly authPublish: number;
  readonly clientErrorMissing: number;
  readonly publishUnauthorized: number;
}

async function read(h: HeraldProcess): Promise<Reading> {
  const text = await scrape(h.url);
  const v = (name: string, labels = ''): number => metricValue(text, name, labels);
  return {
    opened: v('herald_connections_opened_total', 'transport="sse",class="desktop"'),
    open: v('herald_connections_open', 'transport="sse",class="desktop"'),
    received: v('herald_messages_received_total'),
    delivered: v('herald_messages_delivered_total', 'transport="sse"'),
    slow: v('herald_slow_consumer_disconnects_total', 'transport="sse"'),
    closedSlow: v('herald_connections_closed_total', 'transport="sse",reason="slow_consumer"'),
    authMissing: v('herald_auth_failures_total', 'code="token_missing"'),
    authPublish: v('herald_auth_failures_total', 'code="publish_unauthorized"'),
    clientErrorMissing: v('herald_client_errors_total', 'code="token_missing"'),
    publishUnauthorized: v('herald_publish_requests_total', 'outcome="unauthorized"'),
  };
}

function delta(after: Reading, before: Reading): Record<keyof Reading, number> {
  const out = {} as Record<keyof Reading, number>;
  for (const key of Object.keys(after) as (keyof Reading)[]) out[key] = after[key] - before[key];
  return out;
}

const ZERO: Record<keyof Reading, number> = {
  opened: 0, open: 0, received: 0, delivered: 0, slow: 0, closedSlow: 0,
  authMissing: 0, authPublish: 0, clientErrorMissing: 0, publishUnauthorized: 0,
};

t.test('scraped metrics move by exactly the expected amounts', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:exact`;
  const N = 7;
  const M = 4;

  const start = await read(h);
  t.ok(Object.values(start).every((v) => Number.isFinite(v)), 'every series is exported from the start');
  const clients = await Promise.all(Array.from({ length: N }, () => RawSse.open(`${h.url}/sse?channel=${ch}`)));
  t.teardown(() => clients.forEach((c) => c.close()));
  await Promise.all(clients.map((c) => c.until(() => c.retry !== null, 5000, 'stream start')));
  const connected = await read(h);
  t.same(delta(connected, start), { ...ZERO, opened: N, open: N }, `${N} clients connect`);

  for (let i = 0; i < M; i++) await pub.publish(ch, `m${i}`);
  await Promise.all(clients.map((c) => c.waitForMessages(M)));
  await waitFor(async () => (await read(h)).delivered - connected.delivered === N * M, { timeoutMs: 5000, what: 'deliveries counted' });
  const published = await read(h);
  t.same(delta(published, connected), { ...ZERO, received: M, delivered: N * M }, `${M} messages to ${N} clients`);

  const denied = await RawSse.open(`${h.url}/sse?channel=${p}secret:x`);
  t.equal(denied.status, 401);
  denied.close();
  const badKey = await fetch(`${h.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'wrong-key' },
    body: JSON.stringify({ channel: ch, data: 'nope' }),
  });
  t.equal(badKey.status, 401);
  const failed = await read(h);
  t.same(delta(failed, published), { ...ZERO, authMissing: 1, clientErrorMissing: 1, authPublish: 1, publishUnauthorized: 1 }, 'one missing token, one bad API key');

  // A slow consumer on its own channel, so the other clients' numbers stay put.
  const slowCh = `${p}:slow`;
  const slow = await RawSse.open(`${h.url}/sse?channel=${slowCh}`);
  t.teardown(() => slow.close());
  await slow.until(() => slow.retry !== null);
  (slow.res.socket as Socket).pause();
  const beforeSlow = await read(h);
  for (let i = 0; i < 120; i++) {
    await pub.publish(slowCh, `${i}:`.padEnd(256 * 1024, 'x'));
    if (i % 10 === 9 && (await read(h)).slow > beforeSlow.slow) break;
  }
  await waitFor(async () => (await read(h)).slow === beforeSlow.slow + 1, { timeoutMs: 10_000, what: 'slow consumer counted' });
  const afterSlow = await read(h);
  const d = delta(afterSlow, beforeSlow);
  t.equal(d.slow, 1, 'one slow-consumer disconnect');
  t.equal(d.closedSlow, 1, 'closed with reason slow_consumer');
  t.equal(beforeSlow.open, N + 1, 'the slow client counted as open while connected');
  t.equal(d.open, -1, 'and no longer once dropped');
  t.equal(d.authMissing + d.authPublish + d.clientErrorMissing, 0, 'nothing else moved');
});

t.test('promtool check metrics passes on a live scrape', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const s = await RawSse.open(`${h.url}/sse?channel=${p}:lint`);
  t.teardown(() => s.close());
  await s.until(() => s.retry !== null);
  await pub.publish(`${p}:lint`, 'x');
  await s.waitForMessages(1);
  const result = await promtoolCheck(await scrape(h.url));
  if (result === null) {
    t.skip('promtool is not installed: .ci/run installs it (apt package prometheus)', () => {});
    return;
  }
  t.equal(result.code, 0, `promtool check metrics: ${result.output || 'clean'}`);
  t.equal(result.output.trim(), '', 'no warnings either');
});
