// Issue 10: a position issued by one Herald process resumed only on that process; every
// reconnect that landed elsewhere (another worker, another machine, after a deploy) was a reset.
import t, { type Test } from 'tap';
import { poll, WsClient } from '../helpers/clients.js';
import { startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { tagOf } from '../helpers/positions.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const { redisUrl, pub } = await redisWithPublisher(t);

const config = (prefix: string): string => `
broker: { type: redis, url: "${redisUrl}", linger: 10s }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 200, maxAge: 5m } }
log: { level: info }
`;

/** Longer than the position tolerance (2 s): a process vouches only for what it covered that long. */
const pastTolerance = (): Promise<void> => new Promise((r) => setTimeout(r, 2300));

/** Keeps `channels` covered on `h` for the whole test (a subscriber that stays). */
async function cover(t: Test, h: HeraldProcess, channels: string[]): Promise<RawSse> {
  const keeper = await RawSse.open(`${h.url}/sse?${channels.map((c) => `channel=${c}`).join('&')}`);
  t.teardown(() => keeper.close());
  await keeper.until(() => keeper.retry !== null, 5000, 'stream start');
  return keeper;
}

t.test('two processes, one Redis: SSE, WS and poll positions from A resume exactly on B', async (t) => {
  const p = uniquePrefix();
  const [c1, c2, c3] = [`${p}:one`, `${p}:two`, `${p}:only-a`];
  const a = await startHerald(t, { config: config(p) });
  const b = await startHerald(t, { config: config(p) });
  const onA = await cover(t, a, [c1, c2, c3]);
  await cover(t, b, [c1, c2]);
  await pastTolerance();
  // The first WINDOW-1 messages after coverage starts have short windows (docs/resume.md).
  for (let i = 1; i <= 3; i++) {
    await pub.publish(c1, `w${i}`);
    await pub.publish(c2, `w${i}`);
  }
  for (let i = 1; i <= 5; i++) {
    await pub.publish(c1, `a${i}`);
    await pub.publish(c2, `b${i}`);
  }
  await pub.publish(c3, 'c1');
  await onA.waitForMessages(17);
  const a3 = onA.messages().find((e) => e.data === 'a3')!.id!;
  t.equal(tagOf(a3), tagOf(onA.messages()[0]!.id!), 'an id issued by A');

  const sse = await RawSse.open(`${b.url}/sse?channel=${c1}&channel=${c2}`, { 'last-event-id': a3 });
  t.teardown(() => sse.close());
  await sse.waitForMessages(5);
  t.same(sse.messages().map((e) => e.data), ['b3', 'a4', 'b4', 'a5', 'b5'], "one Last-Event-ID resumes both channels on B, in Redis's order");
  t.notOk(sse.events.some((e) => e.event === 'reset'), 'no reset');

  const ws = await WsClient.open(`${b.wsUrl}/ws`);
  t.teardown(() => ws.close());
  const sub = await ws.subscribe(c1, { since: a3 });
  t.equal(sub.type, 'subscribed');
  t.same(ws.messages().map((f) => f.data), ['a4', 'a5'], 'WS since: exact replay on B');
  t.notOk(ws.frames.some((f) => f.type === 'reset'));

  const polled = await poll(b.url, [c1, c2], { cursor: a3 });
  t.same(polled.body.messages.map((m) => m.data), ['b3', 'a4', 'b4', 'a5', 'b5'], 'poll cursor: exact replay on B');
  t.equal(polled.body.reset, undefined);
  const again = poll(b.url, [c1, c2], { cursor: polled.body.cursor, client: 'tiny' });
  await pub.publish(c2, 'b6');
  t.same((await again).body.messages.map((m) => m.data), ['b6'], "B's cursor goes on from there");

  const lost = await RawSse.open(`${b.url}/sse?channel=${c3}`, { 'last-event-id': onA.messages().at(-1)!.id! });
  t.teardown(() => lost.close());
  await lost.until(() => lost.events.length >= 1);
  t.equal(lost.events[0]!.event, 'reset', 'B never covered that channel: it cannot locate the position');
  t.same(JSON.parse(lost.events[0]!.data), { channel: c3, reason: 'not_covered' });
});

t.test('repeating identical payloads: another process replays exactly or resets, never wrongly', async (t) => {
  const p = uniquePrefix();
  const ch = `${p}:same`;
  const a = await startHerald(t, { config: config(p) });
  const b = await startHerald(t, { config: config(p) });
  const onA = await cover(t, a, [ch]);
  await cover(t, b, [ch]);
  await pastTolerance();
  const pattern = ['x', 'x', 'x', 'x', 'y', 'x', 'x', 'x', 'x', 'x', 'z', 'x'];
  for (const payload of pattern) await pub.publish(ch, payload);
  await onA.waitForMessages(pattern.length);
  const ids = onA.messages().map((e) => e.id!);
  let exact = 0;
  let resets = 0;
  for (const [i, id] of ids.entries()) {
    const r = await poll(b.url, [ch], { cursor: id });
    const got = r.body.messages.map((m) => m.data);
    if (r.body.reset !== undefined) {
      t.same(got, [], `position ${i}: a reset replays nothing`);
      resets++;
    } else {
      t.same(got, pattern.slice(i + 1), `position ${i}: exact replay`);
      exact++;
    }
  }
  t.ok(resets > 0, `ambiguous positions reset (${resets} resets, ${exact} exact)`);
});

t.test('a channel repeating one payload: pollers and reconnects on the same process get every message, no reset', async (t) => {
  // Before the seq part of message ids, every full window of a heartbeat channel had one
  // fingerprint, so a poller's cursor was ambiguous even on the process that issued it: every
  // poll answered a reset and no message, for as long as the channel kept repeating.
  const p = uniquePrefix();
  const ch = `${p}:heartbeat`;
  const h = await startHerald(t, { config: config(p) });
  const keeper = await cover(t, h, [ch]);
  // A cursor that is no position is answered at once (a reset, reason invalid) with the head.
  const first = await poll(h.url, [ch], { cursor: 'start' });
  let cursor = first.body.cursor;
  const got: string[] = [];
  let resets = 0;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 3; i++) await pub.publish(ch, 'tick');
    await keeper.waitForMessages((round + 1) * 3);
    const r = await poll(h.url, [ch], { cursor });
    if (r.body.reset !== undefined) resets++;
    got.push(...r.body.messages.map((m) => m.data as string));
    cursor = r.body.cursor;
  }
  t.equal(resets, 0, 'no poll answered a reset');
  t.equal(got.length, 18, 'every tick arrived, through 6 polls');
  // A reconnect with Last-Event-ID of a tick in the middle of the run: exactly what followed it.
  const ids = keeper.messages().map((e) => e.id!);
  const again = await RawSse.open(`${h.url}/sse?channel=${ch}`, { 'Last-Event-ID': ids[9]! });
  t.teardown(() => again.close());
  await again.waitForMessages(8);
  t.same(again.events.filter((e) => e.event === 'reset'), [], 'no reset on reconnect');
  t.same(again.messages().map((e) => e.id), ids.slice(10), 'the 8 ticks after it, once each');
});

interface Tally {
  reconnects: number;
  resets: number;
  duplicates: number;
  lost: number;
}

t.test('--workers 4, one port: 100 reconnects with the last id under a steady publish rate', async (t) => {
  const p = uniquePrefix();
  const ch = `${p}:steady`;
  const h = await startHerald(t, { config: config(p), args: ['--workers', '4'], waitReady: false, listenTimeoutMs: 30_000 });
  await waitFor(() => (h.logs().match(/"msg":"listening"/g) ?? []).length >= 4, { timeoutMs: 30_000, what: 'four workers' });
  // Anchors keep the channel covered on every worker (the kernel spreads connections).
  const anchors: RawSse[] = [];
  t.teardown(() => anchors.forEach((c) => c.close()));
  let n = 0;
  const tags = new Set<string>();
  while (tags.size < 4 && anchors.length < 200) {
    for (let i = 0; i < 10; i++) anchors.push(await RawSse.open(`${h.url}/sse?channel=${ch}`));
    await Promise.all(anchors.map((c) => c.until(() => c.retry !== null, 10_000, 'stream start')));
    await pub.publish(ch, String(++n));
    await Promise.all(anchors.map((c) => c.waitForMessages(1, 10_000)));
    for (const c of anchors) tags.add(tagOf(c.messages().at(-1)!.id!));
  }
  t.equal(tags.size, 4, `every worker covers the channel (${anchors.length} anchors)`);
  await pastTolerance();
  for (let i = 0; i < 3; i++) await pub.publish(ch, String(++n));

  let publishing = true;
  const publisher = (async () => {
    while (publishing) {
      await pub.publish(ch, String(++n));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const tally: Tally = { reconnects: 0, resets: 0, duplicates: 0, lost: 0 };
  const seen: number[] = [];
  const workersUsed = new Set<string>();
  const resetReasons: string[] = [];
  let lastId = '';
  for (let i = 0; i <= 100; i++) {
    const sse = await RawSse.open(`${h.url}/sse?channel=${ch}`, lastId === '' ? {} : { 'last-event-id': lastId });
    await sse.waitForMessages(2, 10_000);
    sse.close();
    if (i > 0) tally.reconnects++;
    for (const e of sse.events.filter((e) => e.event === 'reset')) {
      tally.resets++;
      resetReasons.push(`${(JSON.parse(e.data) as { reason: string }).reason} at reconnect ${i}`);
    }
    for (const e of sse.messages()) seen.push(Number(e.data));
    lastId = sse.messages().at(-1)!.id!;
    workersUsed.add(tagOf(lastId));
  }
  publishing = false;
  await publisher;
  for (let i = 1; i < seen.length; i++) {
    if (seen[i]! <= seen[i - 1]!) tally.duplicates++;
    else tally.lost += seen[i]! - seen[i - 1]! - 1;
  }
  t.comment(`workers test: ${JSON.stringify(tally)}, ${seen.length} messages received, ${workersUsed.size} workers answered${resetReasons.length > 0 ? `; resets: ${resetReasons.join(', ')}` : ''}`);
  t.equal(tally.reconnects, 100);
  t.ok(workersUsed.size > 1, 'the reconnects landed on several workers');
  t.same({ resets: tally.resets, lost: tally.lost, duplicates: tally.duplicates }, { resets: 0, lost: 0, duplicates: 0 });
});
