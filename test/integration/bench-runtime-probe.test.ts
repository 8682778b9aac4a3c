import { createServer } from 'node:http';
import t from 'tap';
import { parseRuntime, primeRuntimeProbe, runtimeProbe } from '../../bench/lib/runtime-probe.mjs';
import { freePort } from '../helpers/redis.js';
import { scrape, startHerald } from '../helpers/herald.js';

// The bench's per-row GC and event-loop figures (bench/README.md, "Columns") rest on this probe.

const EXPOSITION = `# TYPE nodejs_eventloop_lag_p99_seconds gauge
nodejs_eventloop_lag_p99_seconds 0.012
nodejs_eventloop_lag_max_seconds 0.0305
nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 3
nodejs_gc_duration_seconds_bucket{le="0.01",kind="minor"} 9
nodejs_gc_duration_seconds_bucket{le="0.1",kind="minor"} 10
nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} 10
nodejs_gc_duration_seconds_sum{kind="minor"} 0.042
nodejs_gc_duration_seconds_count{kind="minor"} 10
nodejs_gc_duration_seconds_bucket{le="0.01",kind="major"} 0
nodejs_gc_duration_seconds_sum{kind="major"} 0.025
nodejs_gc_duration_seconds_count{kind="major"} 1
`;

t.test('parseRuntime reads GC counts, seconds, pauses over 10 ms and the loop-delay gauges', async (t) => {
  const r = parseRuntime(EXPOSITION);
  t.same(r.gc.minor, { count: 10, s: 0.042, over10ms: 1, le10ms: 9 });
  t.same(r.gc.major, { count: 1, s: 0.025, over10ms: 1, le10ms: 0 });
  t.same(r.lag, { p99: 0.012, max: 0.0305 });
});

t.test('a window is the difference of its two scrapes; the delay is what lies beyond the 10 ms timer', async (t) => {
  const texts = [
    'nodejs_gc_duration_seconds_bucket{le="0.01",kind="minor"} 4\nnodejs_gc_duration_seconds_sum{kind="minor"} 0.01\nnodejs_gc_duration_seconds_count{kind="minor"} 4\nnodejs_eventloop_lag_p99_seconds 0.2\nnodejs_eventloop_lag_max_seconds 0.5\n',
    EXPOSITION,
  ];
  const server = createServer((req, res) => res.end(req.url === '/metrics' ? texts.shift() : ''));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const probe = await runtimeProbe(port);
  const w = await probe.end();
  t.same(w, {
    gc: { minor: { count: 6, ms: 32 }, major: { count: 1, ms: 25 } },
    gcPauseMs: 57,
    gcPausesOver10ms: 2,
    loopDelayP99Ms: 2,
    loopDelayMaxMs: 20.5,
  }, 'GC since the first scrape; the gauges as the second one read them (the first reset them)');
});

t.test('against a real Herald: the window\'s GC is a difference of two scrapes, the delay is beyond the 10 ms timer', async (t) => {
  const h = await startHerald(t);
  const before = parseRuntime(await scrape(h.url));
  const probe = await runtimeProbe(h.port);
  // Each scrape allocates the whole exposition text: enough of them fill the young generation
  // (V8 scavenges from a task, and the GC observer reports a turn later: ask until it shows).
  let w = await probe.end();
  for (let round = 0; round < 100 && (w?.gc.minor?.count ?? 0) === 0; round++) {
    for (let i = 0; i < 50; i++) await scrape(h.url);
    w = await probe.end();
  }
  t.ok(w, 'a Herald answers /metrics');
  const after = parseRuntime(await scrape(h.url));
  const minor = w!.gc.minor!;
  t.ok(minor.count >= 1, `scavenges in the window (${minor.count})`);
  t.ok(minor.count <= after.gc.minor!.count - (before.gc.minor?.count ?? 0), 'no more than the process had in all');
  const total = Object.values(w!.gc).reduce((a, g) => a + g.ms, 0);
  t.ok(Math.abs(total - w!.gcPauseMs) < 0.05 * Object.keys(w!.gc).length, 'the pause total is the kinds\' sum');
  t.ok(w!.loopDelayMaxMs !== null && w!.loopDelayMaxMs >= 0 && w!.loopDelayMaxMs < 5000, `loop delay max ${w!.loopDelayMaxMs} ms`);
  t.ok(w!.loopDelayP99Ms !== null && w!.loopDelayP99Ms <= w!.loopDelayMaxMs!, 'p99 ≤ max');
});

t.test('a peer without /metrics gives no figures, not zeros', async (t) => {
  const port = await freePort();
  const probe = await runtimeProbe(port);
  t.equal(await probe.end(), null);
});

t.test('the priming before the warm-up scrapes /metrics the times asked, and a peer without it is no error', async (t) => {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    res.end(EXPOSITION);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  await primeRuntimeProbe(port);
  t.equal(asked.length, 20, 'twenty by default');
  t.ok(asked.every((url) => url === '/metrics'));
  asked.length = 0;
  await primeRuntimeProbe(port, 3);
  t.same(asked, ['/metrics', '/metrics', '/metrics']);
  await t.resolves(primeRuntimeProbe(await freePort()), 'nothing listening: resolves all the same');
});
