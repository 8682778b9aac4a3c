import { readdirSync } from 'node:fs';
import t from 'tap';
import { startFloor } from '../../bench/lib/targets.mjs';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';

// The workers rows judge Herald --workers 2 against a uWS floor of two processes on one port
// (bench/issue-15.md, sixteenth pass): both must take connections and each must deliver.

function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

// The floor's RESP reader connects to 127.0.0.1 on a port: REDIS_URL's, or a server of the file's own.
const { redisUrl, pub } = await redisWithPublisher(t);
const url = new URL(redisUrl);
const redis = { port: Number(url.port || 6379) };
const notLoopback = url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' ? 'the bench floor reads Redis on loopback only' : false;

t.test('uws-floor with workers: 2 runs two processes on one port, both serve and both deliver', { skip: notLoopback }, async (t) => {
  const floor = await startFloor({ redis, mode: 'uws', workers: 2 });
  t.teardown(() => floor.stop());
  const pids = floor.pids();
  t.equal(pids.length, 2, 'two processes, both measured');
  t.equal(floor.name, 'uws-floor');
  const idle = pids.map(openFiles);

  // RawSse opens each stream on its own connection (agent: false), for the kernel to spread.
  const streams = await Promise.all(Array.from({ length: 40 }, () => RawSse.open(`http://127.0.0.1:${floor.port}/sse?channel=bench:c0`)));
  t.teardown(() => streams.forEach((s) => s.close()));
  await Promise.all(streams.map((s) => s.until(() => s.retry !== null, 10_000, 'retry: (live)')));
  const grown = pids.map((pid, i) => openFiles(pid) - idle[i]!);
  t.ok(grown.every((n) => n > 0), `each process holds some of the streams (${grown.join(' + ')})`);

  // Each floor process subscribes to Redis itself: every stream, on either process, gets it.
  await pub.publish('bench:c0', 'hello-from-redis');
  await Promise.all(streams.map((s) => s.waitForMessages(1, 10_000)));
  t.ok(streams.every((s) => s.messages()[0]!.data === 'hello-from-redis'));
});

t.test('the raw-net floor stays one process whatever workers says (Node 20 net cannot share a port)', { skip: notLoopback }, async (t) => {
  const floor = await startFloor({ redis, mode: 'direct', workers: 2 });
  t.teardown(() => floor.stop());
  t.equal(floor.pids().length, 1);
});
