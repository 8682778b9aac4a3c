// The batch delay (`batchDelay`, docs/configuration.md): an SSE/NDJSON stream written less than
// its delay ago holds its next write until the delay has passed, so a busy stream gets its
// messages in fewer, larger writes. What a client can see: when bytes arrive, and which arrive
// in one read. Lower bounds on time only (a loaded machine makes things late, never early).
import t from 'tap';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';

const { redisUrl, pub } = await redisWithPublisher(t);
const DELAY_MS = 1000;

/** The stream's messages with the read that brought each (one write of Herald's arrives in one read on loopback) and when. */
function arrivals(s: RawSse): { data: string; read: number; atMs: number }[] {
  return s.events.flatMap((e, i) => (e.event === 'message' ? [{ data: e.data, ...s.arrivals[i]! }] : []));
}

async function open(url: string): Promise<RawSse> {
  const s = await RawSse.open(url);
  await s.until(() => s.retry !== null, 5000, 'stream start');
  return s;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const p = uniquePrefix();
const h = await startHerald(t, {
  config: `
broker: { type: redis, url: "${redisUrl}" }
channels:
  - { pattern: "${p}b:{name}", access: public, batchDelay: ${DELAY_MS}ms }
  - { pattern: "${p}n:{name}", access: public, batchDelay: 0 }
  - { pattern: "${p}l:{name}", access: public, batchDelay: 10s }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 30s, heartbeat: 300s, idle: 120s }
    - { name: brief, lifetime: 1500ms, pollHold: 30s, heartbeat: 300s, idle: 120s }
log: { level: warn }
`,
});

t.test('a quiet stream is written at once; a busy one waits for the delay, then gets its messages in one write', async (t) => {
  const ch = `${p}b:one`;
  const s = await open(`${h.url}/sse?channel=${ch}`);
  t.teardown(() => s.close());
  await sleep(DELAY_MS + 200); // the start was a write: let the delay pass
  const sent = performance.now();
  await pub.publish(ch, 'm1');
  await s.waitForMessages(1);
  const m1 = arrivals(s)[0]!;
  t.ok(m1.atMs - sent < DELAY_MS * 0.8, `m1, the first after a quiet spell, is not held (${Math.round(m1.atMs - sent)} ms)`);
  await pub.publish(ch, 'm2');
  await sleep(100);
  await pub.publish(ch, 'm3');
  await s.waitForMessages(3);
  const [, m2, m3] = arrivals(s);
  t.same([m2!.data, m3!.data], ['m2', 'm3'], 'in order');
  t.ok(m2!.atMs - m1.atMs >= DELAY_MS - 50, `m2 waited for the delay after m1's write (${Math.round(m2!.atMs - m1.atMs)} ms)`);
  t.equal(m2!.read, m3!.read, 'm2 and m3, published 100 ms apart, came in one write');
});

t.test('batchDelay 0, and a stream whose channels include one with 0, writes every message at once', async (t) => {
  for (const channels of [[`${p}n:one`], [`${p}b:two`, `${p}n:two`]]) {
    const s = await open(`${h.url}/sse?${channels.map((c) => `channel=${c}`).join('&')}`);
    t.teardown(() => s.close());
    const ch = channels[0]!;
    await pub.publish(ch, 'x1');
    await s.waitForMessages(1);
    await pub.publish(ch, 'x2');
    // Far apart for a client on a loaded machine to read them apart, well inside the 1 s delay.
    await sleep(300);
    await pub.publish(ch, 'x3');
    await s.waitForMessages(3);
    const got = arrivals(s);
    t.same(got.map((a) => a.data), ['x1', 'x2', 'x3']);
    t.not(got[1]!.read, got[2]!.read, `${channels.join(' + ')}: x2 and x3, 300 ms apart, came in two writes`);
  }
});

t.test('a stream that ends while its write is held sends it before the final chunk', async (t) => {
  const ch = `${p}l:one`; // a 10 s delay; the class's lifetime is 1.5 s
  const s = await open(`${h.url}/sse?channel=${ch}&client=brief`);
  t.teardown(() => s.close());
  const startedAt = performance.now();
  await pub.publish(ch, 'k1'); // held: the stream's start was written just now
  await pub.publish(ch, 'k2');
  await s.until(() => s.ended, 8000, 'the lifetime end');
  const got = arrivals(s);
  t.same(got.map((a) => a.data), ['k1', 'k2'], 'both arrived');
  t.match(s.raw, /\n: stream lifetime reached[^\n]*\n\n$/, 'then the final chunk, the lifetime comment, and nothing after it');
  t.ok(got[0]!.atMs - startedAt >= 1000, `k1 was held until the end (${Math.round(got[0]!.atMs - startedAt)} ms; the lifetime is 1.5 s)`);
  t.ok(s.endedAtMs - startedAt < 8000, `the held write went with the end (${Math.round(s.endedAtMs - startedAt)} ms), not 10 s later`);
});
