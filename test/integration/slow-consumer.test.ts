import { Redis } from 'ioredis';
import t from 'tap';
import { scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';

t.test('an SSE client that stops reading is dropped at the bound; others are unaffected', async (t) => {
  const redisUrl = await sharedRedisUrl(t);
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
broker: { type: redis, url: "${redisUrl}" }
channels:
  - { pattern: "${p}:{name}", access: public, history: { size: 10, maxAge: 1m } }
limits: { maxBufferedBytes: 256kb, maxMessageBytes: 64kb }
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

  const pub = new Redis(redisUrl);
  t.teardown(() => pub.quit());
  const payload = 'x'.repeat(32 * 1024);
  const count = 600; // ~19 MB: far past loopback socket buffers plus the 256 KiB bound
  for (let i = 0; i < count; i += 50) {
    const batch = pub.pipeline();
    for (let j = i; j < Math.min(count, i + 50); j++) batch.publish(channel, `${j}:${payload}`);
    await batch.exec();
    await fast.waitForMessages(Math.min(count, i + 50), 20_000);
  }
  t.equal(fast.messages().length, count, 'the reading client got every message');
  t.same(fast.messages().map((m) => Number(m.data.split(':')[0])), Array.from({ length: count }, (_, i) => i), 'in order');

  const text = await scrape(h.url);
  t.match(text, /herald_slow_consumer_disconnects_total\{transport="sse"\} 1/, 'the slow one was dropped and counted');
  t.match(text, /herald_connections_closed_total\{transport="sse",reason="slow_consumer"\} 1/);
  slow.res.socket.resume();
  slow.res.resume();
  await slow.until(() => slow.ended, 10_000, 'the slow stream is cut');
  t.ok(slow.messages().length < count, `slow client saw ${slow.messages().length} of ${count} before the cut`);
  const rss = Number(/process_resident_memory_bytes (\d+)/.exec(text)?.[1]);
  t.ok(rss < 300 * 1024 * 1024, `daemon RSS stays bounded (${Math.round(rss / 1048576)} MiB)`);
});
