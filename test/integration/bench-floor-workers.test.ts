import { readdirSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { Redis } from 'ioredis';
import t from 'tap';
import { startFloor } from '../../bench/lib/targets.mjs';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

// The workers rows judge Herald --workers 2 against a uWS floor of two processes on one port
// (bench/README.md, sixteenth pass): both must take connections and each must deliver.

function sockets(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

t.test('uws-floor with workers: 2 runs two processes on one port, both serve and both deliver', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const floor = await startFloor({ redis, mode: 'uws', workers: 2 });
  t.teardown(() => floor.stop());
  const pids = floor.pids();
  t.equal(pids.length, 2, 'two processes, both measured');
  t.equal(floor.name, 'uws-floor');
  const idle = pids.map(sockets);

  const received: string[] = [];
  const reqs: ClientRequest[] = [];
  let live = 0;
  for (let i = 0; i < 40; i++) {
    // agent: false, so each stream is its own connection for the kernel to spread.
    const req = request({ host: '127.0.0.1', port: floor.port, path: '/sse?channel=bench:c0', agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (chunk.includes('retry:')) live++;
        for (const m of chunk.matchAll(/data: (\S+)/g)) received.push(m[1]!);
      });
    });
    req.on('error', () => {});
    req.end();
    reqs.push(req);
  }
  t.teardown(() => reqs.forEach((r) => r.destroy()));
  await waitFor(() => live === 40, { timeoutMs: 10_000, what: '40 SSE streams live' });
  const grown = pids.map((pid, i) => sockets(pid) - idle[i]!);
  t.ok(grown.every((n) => n > 0), `each process holds some of the streams (${grown.join(' + ')})`);

  const pub = new Redis(redis.url);
  t.teardown(() => pub.quit());
  // Each floor process subscribes to Redis itself: every stream, on either process, gets it.
  await pub.publish('bench:c0', 'hello-from-redis');
  await waitFor(() => received.length === 40, { timeoutMs: 10_000, what: 'the message on all 40 streams' });
  t.ok(received.every((d) => d === 'hello-from-redis'));
});

t.test('the raw-net floor stays one process whatever workers says (Node 20 net cannot share a port)', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const floor = await startFloor({ redis, mode: 'direct', workers: 2 });
  t.teardown(() => floor.stop());
  t.equal(floor.pids().length, 1);
});
