// The batch delay (`batchDelay`, docs/configuration.md): an SSE/NDJSON stream written less than
// its delay ago holds its next write until the delay has passed, so a busy stream gets its
// messages in fewer, larger writes. What a client can see: when bytes arrive, and which arrive
// in one read. Lower bounds on time only (a loaded machine makes things late, never early).
import { request } from 'node:http';
import t from 'tap';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { redisUrl, pub } = await redisWithPublisher(t);
const DELAY_MS = 1000;

interface Arrival {
  readonly data: string;
  readonly event: string;
  /** Which read of the socket brought it: one write of Herald's arrives in one read on loopback. */
  readonly read: number;
  readonly atMs: number;
}

/** An SSE stream that records, per message (and, apart, per other event), the read it arrived in and when. */
async function openSse(url: string): Promise<{ arrivals: Arrival[]; others: Arrival[]; started: () => boolean; ended: () => boolean; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
      const arrivals: Arrival[] = [];
      const others: Arrival[] = [];
      let buffer = '';
      let reads = 0;
      let started = false;
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const read = reads++;
        const atMs = performance.now();
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith('retry:')) started = true;
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          if (block.startsWith(':')) others.push({ data: block.slice(1).trim(), event: 'comment', read, atMs });
          else if (data !== '') (event === 'message' ? arrivals : others).push({ data, event, read, atMs });
        }
      });
      res.on('close', () => {
        ended = true;
      });
      resolve({ arrivals, others, started: () => started, ended: () => ended, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
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
  const s = await openSse(`${h.url}/sse?channel=${ch}`);
  t.teardown(() => s.close());
  await waitFor(s.started, { timeoutMs: 5000, what: 'stream start' });
  await sleep(DELAY_MS + 200); // the start was a write: let the delay pass
  const sent = performance.now();
  await pub.publish(ch, 'm1');
  await waitFor(() => s.arrivals.length >= 1, { timeoutMs: 5000, what: 'm1' });
  const m1 = s.arrivals[0]!;
  t.ok(m1.atMs - sent < DELAY_MS * 0.8, `m1, the first after a quiet spell, is not held (${Math.round(m1.atMs - sent)} ms)`);
  await pub.publish(ch, 'm2');
  await sleep(100);
  await pub.publish(ch, 'm3');
  await waitFor(() => s.arrivals.length >= 3, { timeoutMs: 5000, what: 'm2 and m3' });
  const [, m2, m3] = s.arrivals;
  t.same([m2!.data, m3!.data], ['m2', 'm3'], 'in order');
  t.ok(m2!.atMs - m1.atMs >= DELAY_MS - 50, `m2 waited for the delay after m1's write (${Math.round(m2!.atMs - m1.atMs)} ms)`);
  t.equal(m2!.read, m3!.read, 'm2 and m3, published 100 ms apart, came in one write');
});

t.test('batchDelay 0, and a stream whose channels include one with 0, writes every message at once', async (t) => {
  for (const channels of [[`${p}n:one`], [`${p}b:two`, `${p}n:two`]]) {
    const s = await openSse(`${h.url}/sse?${channels.map((c) => `channel=${c}`).join('&')}`);
    t.teardown(() => s.close());
    await waitFor(s.started, { timeoutMs: 5000, what: 'stream start' });
    const ch = channels[0]!;
    await pub.publish(ch, 'x1');
    await waitFor(() => s.arrivals.length >= 1, { timeoutMs: 5000, what: 'x1' });
    await pub.publish(ch, 'x2');
    // Far apart for a client on a loaded machine to read them apart, well inside the 1 s delay.
    await sleep(300);
    await pub.publish(ch, 'x3');
    await waitFor(() => s.arrivals.length >= 3, { timeoutMs: 5000, what: 'x2 and x3' });
    t.same(s.arrivals.map((a) => a.data), ['x1', 'x2', 'x3']);
    t.not(s.arrivals[1]!.read, s.arrivals[2]!.read, `${channels.join(' + ')}: x2 and x3, 300 ms apart, came in two writes`);
  }
});

t.test('a stream that ends while its write is held sends it before the final chunk', async (t) => {
  const ch = `${p}l:one`; // a 10 s delay; the class's lifetime is 1.5 s
  const s = await openSse(`${h.url}/sse?channel=${ch}&client=brief`);
  t.teardown(() => s.close());
  await waitFor(s.started, { timeoutMs: 5000, what: 'stream start' });
  const startedAt = performance.now();
  await pub.publish(ch, 'k1'); // held: the stream's start was written just now
  await pub.publish(ch, 'k2');
  await waitFor(s.ended, { timeoutMs: 8000, what: 'the lifetime end' });
  t.same(s.arrivals.map((a) => a.data), ['k1', 'k2'], 'both arrived');
  const final = s.others.at(-1)!;
  t.match(final, { event: 'comment', data: /lifetime/ }, 'then the final chunk: the lifetime comment');
  t.ok(s.arrivals.every((a) => a.read <= final.read), 'no message after it');
  t.ok(s.arrivals[0]!.atMs - startedAt >= 1000, `k1 was held until the end (${Math.round(s.arrivals[0]!.atMs - startedAt)} ms; the lifetime is 1.5 s)`);
  t.ok(final.atMs - startedAt < 8000, `the held write went with the end (${Math.round(final.atMs - startedAt)} ms), not 10 s later`);
});
