/**
 * The scenarios. Sizes respect the machine: one server process holds at most ~19,000 sockets
 * (20,000 open files, hard cap), and unbatched fan-out tops out near 100–150k deliveries/s per
 * core, so "low rate" broadcast keeps one fan-out pass shorter than the gap between messages.
 */

const TRANSPORTS = ['sse', 'ws', 'poll'];

export function scenarios({ quick }) {
  const secs = quick ? 2 : 5;
  const out = [];
  // Unmeasured traffic before each measured window (scenario.mjs warmUp): steady state, not start-up.
  const warmS = quick ? 1 : 3;
  for (const t of TRANSPORTS) {
    const n = quick ? 2000 : 15000;
    out.push({ preset: 'idle', label: `${n} idle`, transport: t, mix: { [t]: n }, k: 100, rate: 0, seconds: 0, size: 64, idle: true });
  }
  const widths = quick ? [[1000, 20]] : [[1000, 20], [5000, 10], [15000, 4]];
  for (const t of TRANSPORTS) {
    for (const [n, rate] of widths) {
      out.push({ preset: 'broadcast', label: `1 ch × ${n} subs @ ${rate}/s`, transport: t, mix: { [t]: n }, k: 1, rate, seconds: quick ? 3 : 6, size: 64, warmS });
    }
  }
  for (const t of TRANSPORTS) {
    // No warm-up: at 1,000 msg/s Nchan falls behind within a second (~55k deliveries/s of the
    // 1M asked) and would start the measured window with a backlog of seconds.
    out.push({ preset: 'hot', label: '1 ch × 1000 subs @ 1000/s', transport: t, mix: { [t]: 1000 }, k: 1, rate: 1000, seconds: secs, size: 64 });
  }
  for (const t of TRANSPORTS) {
    const [k, n, rate] = quick ? [200, 1000, 5] : [1000, 5000, 2];
    out.push({ preset: 'many-channels', label: `${k} ch × ${n / k} subs @ ${rate}/s`, transport: t, mix: { [t]: n }, k, rate, seconds: secs, size: 64, warmS });
  }
  // One subscriber per channel: every delivery pays a whole incoming message (RESP parse,
  // Buffer → string, lookups, per-message objects) before its one write: the per-message cost alone.
  for (const t of TRANSPORTS) {
    const [k, rate] = quick ? [200, 10] : [1000, 5];
    out.push({ preset: 'one-per-channel', label: `${k} ch × 1 sub @ ${rate}/s`, transport: t, mix: { [t]: k }, k, rate, seconds: secs, size: 64, warmS });
  }
  for (const t of TRANSPORTS) {
    // HERALD_BENCH_CHURN_CYCLES: a longer churn, to profile one connect (bench/README.md).
    // Warm-up as every other row: warmS seconds of the same churn, unmeasured (a fifth of the
    // cycles, ~0.2 s, left Herald's connect path still tiering up in V8: bench/issue-15.md).
    const cycles = Number(process.env.HERALD_BENCH_CHURN_CYCLES) || (quick ? 1000 : 10000);
    out.push({ preset: 'churn', label: `${cycles} connect→live→close, 50 at once`, transport: t, mix: { [t]: 1 }, k: 100, rate: 0, seconds: 0, size: 64, warmS, churn: { cycles, concurrency: 50 } });
  }
  // The same many-channel fan-out on one Redis and on a 3-shard cluster (sharded pub/sub):
  // Herald only (the floor speaks PSUBSCRIBE to one node). Rows report each Redis' CPU.
  for (const t of ['sse', 'ws']) {
    const [k, n, rate] = quick ? [300, 1500, 5] : [1000, 5000, 4];
    for (const shards of [1, 3]) {
      out.push({
        preset: 'cluster', label: `${shards === 1 ? '1 Redis' : `${shards} shards`}: ${k} ch × ${n / k} subs @ ${rate}/s`, transport: t, mix: { [t]: n },
        k, rate, seconds: secs, size: 64, warmS, heraldOnly: true, ...(shards > 1 && { cluster: { shards } }),
      });
    }
  }
  // Both cores: Herald --workers 2 against nginx with 2 workers (the floor stays one process).
  for (const t of TRANSPORTS) {
    const [n, rate] = quick ? [1000, 20] : [5000, 10];
    out.push({ preset: 'workers', label: `2 workers: 1 ch × ${n} subs @ ${rate}/s`, transport: t, mix: { [t]: n }, k: 1, rate, seconds: quick ? 3 : 6, size: 64, warmS, workers: 2 });
  }
  // issue 10: N SSE subscribers over Herald --workers 2, 100 msg/s over 10 channels; mid-run one
  // worker gets SIGTERM (drains, the supervisor restarts it); its clients reconnect with
  // Last-Event-ID. Plain channels (PUBLISH, in-process rings) and durable ones (FCALL
  // herald_publish, a Redis Stream). Target: 0 resets, 0 lost, 0 duplicates for both.
  for (const durable of [false, true]) {
    const n = quick ? 1000 : 5000;
    out.push({
      preset: 'rolling-restart', label: `${durable ? 'durable' : 'plain'}: 10 ch × ${n / 10} subs @ 10/s, drain 1 of 2 workers`, transport: 'sse', mix: { sse: n },
      k: 10, rate: 10, seconds: quick ? 12 : 15, size: 64, workers: 2, heraldOnly: true, rolling: { durable, atS: quick ? 2 : 3 },
    });
  }
  const third = quick ? 300 : 1000;
  out.push({ preset: 'mixed', label: `10 ch × ${third}×3 subs @ 10/s`, transport: 'mixed', mix: { sse: third, ws: third, poll: third }, k: 10, rate: 10, seconds: secs, size: 64, warmS });
  // Issue 15, fourteenth pass: past what the machine keeps up with, WebSocket and pollers on
  // one channel. How long WebSocket frames, poll answers and timers (the loop delay) wait when
  // the pollers keep libuv's poll phase full; Herald only (a trend across runs, no target).
  const pollers = quick ? 2000 : 5000;
  out.push({ preset: 'overload', label: `1 ch × 200 ws + ${pollers} poll @ 10/s`, transport: 'mixed', mix: { ws: 200, poll: pollers }, k: 1, rate: 10, seconds: quick ? 3 : 6, size: 64, warmS, heraldOnly: true });
  return out;
}

/** The floor that matches a scenario: the coalescing floor for the hot (coalescing) regime. */
export function floorFor(s) {
  return s.preset === 'hot' ? 'floor-batch' : 'floor';
}
