import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import t from 'tap';
import { metricValue, scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';

const BOUND = 256 * 1024;

/** Bytes the kernel holds for the TCP connection using local client port `port` (both ends: Recv-Q + Send-Q). */
function kernelQueued(port: number): number {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' });
  let bytes = 0;
  for (const line of out.trim().split('\n')) {
    const [recvQ, sendQ] = line.trim().split(/\s+/).map(Number);
    if (Number.isFinite(recvQ) && Number.isFinite(sendQ)) bytes += recvQ! + sendQ!;
  }
  return bytes;
}

t.test('an SSE client that stops reading is dropped at the bound; others are unaffected', async (t) => {
  const redisUrl = await sharedRedisUrl(t);
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
broker: { type: redis, url: "${redisUrl}" }
channels:
  - { pattern: "${p}:{name}", access: public, history: { size: 10, maxAge: 1m } }
limits: { maxBufferedBytes: ${BOUND}, maxMessageBytes: 64kb }
log: { level: warn }
`,
  });
  const channel = `${p}:flood`;
  const slow = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  const fast = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  t.teardown(() => { slow.close(); fast.close(); });
  await slow.until(() => slow.retry !== null);
  await fast.until(() => fast.retry !== null);
  // Stop reading: the kernel buffers fill, then Herald's bound trips.
  slow.res.pause();
  slow.res.socket.pause();
  const slowPort = slow.res.socket.localPort!;

  const pub = new Redis(redisUrl);
  t.teardown(() => pub.quit());
  const payload = 'x'.repeat(32 * 1024);
  const frameBytes = payload.length + 64; // SSE id/data framing around each payload, generously
  const count = 600; // ~19 MB: far past loopback socket buffers plus the 256 KiB bound
  const batch = 4;
  let dropSeenAfter = -1;
  let kernelBefore = 0;
  for (let i = 0; i < count; i += batch) {
    if (dropSeenAfter < 0) kernelBefore = kernelQueued(slowPort);
    const pipe = pub.pipeline();
    for (let j = i; j < Math.min(count, i + batch); j++) pipe.publish(channel, `${j}:${payload}`);
    await pipe.exec();
    await fast.waitForMessages(Math.min(count, i + batch), 20_000);
    if (dropSeenAfter < 0 && metricValue(await scrape(h.url), 'herald_slow_consumer_disconnects_total', 'transport="sse"') === 1) {
      dropSeenAfter = Math.min(count, i + batch);
    }
  }
  t.equal(fast.messages().length, count, 'the reading client got every message');
  t.same(fast.messages().map((m) => Number(m.data.split(':')[0])), Array.from({ length: count }, (_, i) => i), 'in order');

  // What Herald itself held for the slow client when it dropped it: everything published to
  // it, minus what the kernel held (measured before the last batch, plus that batch).
  t.ok(dropSeenAfter > 0, 'the slow client was dropped during the flood');
  const published = dropSeenAfter * frameBytes;
  const held = published - kernelBefore - batch * frameBytes;
  const allowed = BOUND + batch * frameBytes; // the bound, plus one flush that pushes past it
  t.ok(held <= allowed, `Herald held ≤ the bound + one flush when it dropped the client (${held} ≤ ${allowed} bytes; kernel ${kernelBefore})`);

  const text = await scrape(h.url);
  t.match(text, /herald_slow_consumer_disconnects_total\{transport="sse"\} 1/, 'the slow one was dropped and counted once');
  t.match(text, /herald_connections_closed_total\{transport="sse",reason="slow_consumer"\} 1/);
  slow.res.socket.resume();
  slow.res.resume();
  await slow.until(() => slow.ended, 10_000, 'the slow stream is cut');
  t.ok(slow.messages().length < count, `slow client saw ${slow.messages().length} of ${count} before the cut`);
});
