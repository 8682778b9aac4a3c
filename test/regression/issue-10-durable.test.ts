// Issue 10: durable channels keep their history in a Redis Stream, so a resume is exact across
// Herald restarts, Redis restarts (AOF) and link outages, instead of a reset.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { poll, WsClient } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { startRedis } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

// Every acknowledged write is on disk before the reply: a SIGKILL loses nothing acknowledged.
const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', mkdtempSync(join(tmpdir(), 'herald-aof-'))] });
t.teardown(() => redis.stop());
const app = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 100 });
app.on('error', () => {});
t.teardown(() => app.disconnect());

const config = (prefix: string, size = 100, reconnect = 'reconnectMin: 50ms, reconnectMax: 200ms'): string => `
broker: { type: redis, url: "${redis.url}", linger: 10s, ${reconnect} }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: ${size}, maxAge: 10m, store: redis } }
log: { level: info }
`;

/** What an app does: one FCALL per message, retried until Redis answers. */
async function publish(channel: string, payload: string): Promise<void> {
  for (;;) {
    try {
      await app.call('FCALL', 'herald_publish', '1', channel, payload);
      return;
    } catch (err) {
      if (!/connect|closed|ECONNREFUSED|LOADING|writeable|Stream isn't|Connection|max retries/i.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function sse(t: Test, h: HeraldProcess, channel: string, lastId = ''): Promise<RawSse> {
  const s = await RawSse.open(`${h.url}/sse?channel=${channel}`, lastId === '' ? {} : { 'last-event-id': lastId });
  t.teardown(() => s.close());
  return s;
}

/** A subscriber that got `payloads` live and left: the id of the last, to resume from. */
async function deliveredThenLeft(t: Test, h: HeraldProcess, channel: string, payloads: readonly string[]): Promise<string> {
  const s = await sse(t, h, channel);
  await s.until(() => s.retry !== null);
  for (const payload of payloads) await publish(channel, payload);
  await s.waitForMessages(payloads.length);
  s.close();
  return s.messages().at(-1)!.id!;
}

t.test('restart the only Herald process: exact replay over SSE, WS and poll', async (t) => {
  const p = uniquePrefix();
  const ch = `${p}:d`;
  const a = await startHerald(t, { config: config(p) });
  const first = await sse(t, a, ch);
  await first.until(() => first.retry !== null);
  for (let i = 1; i <= 3; i++) await publish(ch, `d${i}`);
  await first.waitForMessages(3);
  const last = first.messages()[2]!.id!;
  t.match(last, /^\d+-\d+:[0-9a-f]{6}:[A-Za-z0-9_-]{4}$/, 'a durable id: the stream id, its life, its stream');
  first.close();
  t.equal(await a.stop('SIGTERM', 10_000), 0);
  for (let i = 4; i <= 5; i++) await publish(ch, `d${i}`); // no Herald running
  const a2 = await startHerald(t, { config: config(p) });
  const again = await sse(t, a2, ch, last);
  await again.waitForMessages(2);
  t.same(again.messages().map((e) => e.data), ['d4', 'd5'], 'the new process replays from the stream');
  t.notOk(again.events.some((e) => e.event === 'reset'));
  const ws = await WsClient.open(`${a2.wsUrl}/ws`);
  t.teardown(() => ws.close());
  await ws.subscribe(ch, { since: last });
  t.same(ws.messages().map((f) => f.data), ['d4', 'd5'], 'WS since');
  const polled = await poll(a2.url, [ch], { cursor: last });
  t.same(polled.body.messages.map((m) => m.data), ['d4', 'd5'], 'poll cursor');
  t.equal(polled.body.reset, undefined);
});

t.test('restart Redis with AOF on: exact replay', async (t) => {
  const p = uniquePrefix();
  const ch = `${p}:aof`;
  const h = await startHerald(t, { config: config(p) });
  const last = await deliveredThenLeft(t, h, ch, ['r1', 'r2', 'r3']);
  await redis.restart();
  await waitFor(async () => (await fetch(`${h.url}/readyz`)).status === 200, { timeoutMs: 15_000, what: 'Herald ready again' });
  await publish(ch, 'r4');
  const again = await sse(t, h, ch, last);
  await again.waitForMessages(1);
  t.same(again.messages().map((e) => e.data), ['r4']);
  t.notOk(again.events.some((e) => e.event === 'reset'), 'the stream and its life survived the restart');
});

t.test('a resume while the stream connection is away waits for it: exact replay, no reset', async (t) => {
  // After a Redis restart the pub/sub link can be back (Herald ready, subscribers admitted)
  // before the connection that reads streams. Here only that one (and the publisher's) is cut,
  // and it comes back 1–2 s later: a resume in between used to be a not_covered reset.
  const p = uniquePrefix();
  const ch = `${p}:away`;
  const h = await startHerald(t, { config: config(p, 100, 'reconnectMin: 1s, reconnectMax: 2s') });
  const last = await deliveredThenLeft(t, h, ch, ['w1', 'w2']);
  await publish(ch, 'w3');
  const killer = new Redis(redis.url);
  try {
    t.ok(Number(await killer.call('CLIENT', 'KILL', 'TYPE', 'normal')) >= 1, 'the stream connection cut (pub/sub links stay)');
  } finally {
    killer.disconnect();
  }
  const again = await sse(t, h, ch, last);
  await again.waitForMessages(1, 10_000);
  t.same(again.messages().map((e) => e.data), ['w3'], 'replayed once the connection is back');
  t.notOk(again.events.some((e) => e.event === 'reset'), 'no reset');
  await publish(ch, 'w4');
  await again.waitForMessages(2);
  t.same(again.messages().map((e) => e.data), ['w3', 'w4'], 'then live');
});

t.test('Redis killed for 5 s while an app publishes with retries: every message, no reset', async (t) => {
  const p = uniquePrefix();
  const ch = `${p}:kill`;
  const h = await startHerald(t, { config: config(p, 1000) });
  const s = await sse(t, h, ch);
  await s.until(() => s.retry !== null);
  let publishing = true;
  let sent = 0;
  const publisher = (async () => {
    while (publishing) {
      await publish(ch, String(++sent));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await s.waitForMessages(20, 10_000);
  await redis.kill();
  await new Promise((r) => setTimeout(r, 5000));
  await redis.restart();
  const resumedAt = sent;
  await s.waitForMessages(resumedAt + 20, 20_000);
  publishing = false;
  await publisher;
  await s.waitForMessages(sent, 10_000);
  const got = s.messages().map((e) => Number(e.data));
  const distinct = [...new Set(got)];
  const lost = sent - distinct.length;
  const resets = s.events.filter((e) => e.event === 'reset').length;
  t.comment(`kill test: sent ${sent}, received ${got.length} (${distinct.length} distinct), lost ${lost}, duplicates ${got.length - distinct.length}, resets ${resets}`);
  t.same(distinct, Array.from({ length: sent }, (_, i) => i + 1), 'every message, in order');
  t.equal(got.length, distinct.length, 'no duplicates');
  t.equal(resets, 0, 'no reset');
});

t.test('stream trimmed past the position: reset evicted; a plain PUBLISH is dropped and counted', async (t) => {
  const p = uniquePrefix();
  const ch = `${p}:trim`;
  const h = await startHerald(t, { config: config(p, 5) });
  const s = await sse(t, h, ch);
  await s.until(() => s.retry !== null);
  await publish(ch, 'first');
  await s.waitForMessages(1);
  const old = s.messages()[0]!.id!;
  for (let i = 0; i < 10; i++) await publish(ch, `more${i}`);
  await s.waitForMessages(11);
  t.equal(await app.xlen(`herald:{${ch}}:stream`), 5, 'the function trims to the rule size');
  const late = await sse(t, h, ch, old);
  await late.until(() => late.events.length >= 1);
  t.equal(late.events[0]!.event, 'reset');
  t.same(JSON.parse(late.events[0]!.data), { channel: ch, reason: 'evicted' });

  await app.publish(ch, 'plain');
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_messages_dropped_total', 'reason="not_durable"') === 1, { timeoutMs: 5000, what: 'dropped not_durable' });
  await publish(ch, 'after');
  await s.waitForMessages(12);
  t.notOk(s.messages().some((e) => e.data === 'plain'), 'never delivered to some clients only');
});

t.test('the function library: loaded once by concurrent starts, an older one replaced', async (t) => {
  const fresh = await startRedis();
  t.teardown(() => fresh.stop());
  const admin = new Redis(fresh.url);
  t.teardown(() => admin.quit());
  await admin.call('FUNCTION', 'LOAD', "#!lua name=herald\nredis.register_function{function_name='herald_version', callback=function() return 0 end, flags={'no-writes'}}");
  const p = uniquePrefix();
  const cfg = config(p).replace(redis.url, fresh.url);
  const [a, b] = await Promise.all([startHerald(t, { config: cfg }), startHerald(t, { config: cfg })]);
  t.equal(Number(await admin.call('FCALL_RO', 'herald_version', '0')), 1, 'version 0 replaced by 1');
  const libs = (await admin.call('FUNCTION', 'LIST', 'LIBRARYNAME', 'herald')) as unknown[];
  t.equal(libs.length, 1, 'one library');
  t.ok(a.logs().includes('herald function library') || b.logs().includes('herald function library'), 'a load was logged');
  const id = (await admin.call('FCALL', 'herald_publish', '1', `${p}:x`, 'hi')) as [string, number];
  t.match(id[0], /^\d+-\d+$/, 'redis-cli style FCALL works: [stream id, receivers]');
});
