/**
 * One scenario against one freshly started target: connect the subscribers, publish at a
 * fixed rate with a send timestamp in each payload, drain, and turn kernel counters into
 * per-delivery costs. Every number comes from /proc or from the clients, never from the server.
 */
import { clientPool } from './clients.mjs';
import { clusterPublisher, redisPublisher, nchanPublisher, startCluster } from './publishers.mjs';
import { sample, delta, tcpSegsOut } from './proc.mjs';
import { startTarget } from './targets.mjs';
import { primeRuntimeProbe, runtimeProbe } from './runtime-probe.mjs';
import { channelName, payload, WARM } from './wire.mjs';
import { nowUs, pollCursor, sleep } from './net-util.mjs';
import { spawn } from 'node:child_process';

const round = (v, d = 2) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d);

/**
 * HERALD_BENCH_WINDOW_HOOK: a shell command started (not awaited) as the measured window
 * opens, with HERALD_BENCH_PID (the target's first process), HERALD_BENCH_TARGET and
 * HERALD_BENCH_SECONDS set: a profiler attached to exactly the window, e.g.
 * 'perf record -g -p $HERALD_BENCH_PID -o /tmp/$HERALD_BENCH_TARGET.data -- sleep 4'.
 */
function windowHook(target, spec) {
  const cmd = process.env.HERALD_BENCH_WINDOW_HOOK;
  if (!cmd) return;
  const env = { ...process.env, HERALD_BENCH_PID: String(target.pids()[0]), HERALD_BENCH_TARGET: target.name, HERALD_BENCH_SECONDS: String(spec.seconds),
    // One word per row (its preset, transport and label), to name a profile per row.
    HERALD_BENCH_ROW: `${spec.preset}-${Object.keys(spec.mix ?? {}).join('+')}-${spec.label}`.replace(/[^A-Za-z0-9]+/g, '-').replace(/-+$/, '') };
  spawn('sh', ['-c', cmd], { env, stdio: 'ignore' }).on('error', (err) => console.error(`window hook: ${err.message}`));
}

async function publisherFor(target, redis, spec) {
  if (target.name === 'nchan') return nchanPublisher(target.port, target.pubPath);
  if (spec.rolling?.durable) return redisPublisher(redis.port, 'FCALL');
  if (redis.cluster) return clusterPublisher(redis);
  return redisPublisher(redis.port);
}

/** CPU of each Redis server (each shard master) over the window, per message it was sent. */
function redisShards(redis, before, sent) {
  const perPort = new Map();
  for (const [channel, n] of Object.entries(sent)) {
    const port = redis.cluster ? redis.ownerOf(channel) : redis.port;
    perPort.set(port, (perPort.get(port) ?? 0) + n);
  }
  return redis.pids.map((pid, i) => {
    const port = redis.cluster ? redis.ports[i] : redis.port;
    const cpuUs = delta(before[i], sample([pid])).cpuUs;
    const published = perPort.get(port) ?? 0;
    return { port, published, cpuS: round(cpuUs / 1e6, 3), cpuUsPerPublish: published ? round(cpuUs / published) : null };
  });
}

/**
 * Publishes `rate` msg/s on each of `k` channels for `seconds`; message g goes to channel g % k.
 * `body(seq, tsUs, size)` makes each payload (the marked bench payload unless told otherwise).
 */
function publishFor(pub, { k, rate, seconds, size }, body = payload) {
  return new Promise((resolve) => {
    const total = Math.round(k * rate * seconds);
    const t0 = performance.now();
    let g = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * k * rate) + 1);
      const ts = nowUs();
      for (; g < due; g++) pub.publish(channelName(g % k), body(Math.floor(g / k), ts, size));
      if (g >= total) resolve(total); else setTimeout(tick, 1);
    };
    tick();
  });
}

function sentPerChannel(total, k) {
  const sent = {};
  for (let c = 0; c < k; c++) sent[channelName(c)] = Math.floor(total / k) + (c < total % k ? 1 : 0);
  return sent;
}

/** spec: { preset, label, mix: {sse?, ws?, poll?}, k, rate, seconds, size, idle?, churn? } */
export async function runScenario(targetName, sharedRedis, spec) {
  // The cluster preset's 3-shard rows get a cluster of their own, started fresh.
  const own = spec.cluster ? await startCluster(spec.cluster.shards) : null;
  try {
    return await runOn(targetName, own ?? sharedRedis, spec);
  } finally {
    await own?.stop();
  }
}

async function runOn(targetName, redis, spec) {
  const target = await startTarget(targetName, { redis, workers: spec.workers ?? 1, durable: spec.rolling?.durable ?? false });
  const pool = await clientPool({ n: Object.values(spec.mix).reduce((a, b) => a + b, 0), target: targetName === 'nchan' ? 'nchan' : 'herald', port: target.port, resume: Boolean(spec.rolling) });
  const pub = await publisherFor(target, redis, spec);
  const res = { preset: spec.preset, label: spec.label, target: target.name, spec: { ...spec } };
  const pids0 = target.pids().join();
  try {
    // Before the warm-up, as a daemon in service has been scraped long before (runtime-probe.mjs).
    if (target.name === 'herald') await primeRuntimeProbe(target.port);
    const base = sample(target.pids());
    if (spec.churn) return Object.assign(res, await churn(target, pool, pub, spec, base));

    const conns = [];
    let i = 0;
    for (const [t, n] of Object.entries(spec.mix)) for (let j = 0; j < n; j++, i++) conns.push([t, channelName(i % spec.k)]);
    // Nchan says nothing on a WebSocket or long-poll subscribe: its subscribers ask for the
    // channel buffer (wire.pathFor), which holds one warm-up message, and are live on it.
    // Re-published every 20 s: a buffered message expires after Nchan's 1 min timeout.
    let warm = null;
    if (target.name === 'nchan') {
      await publishWarm(pub, spec.k);
      warm = setInterval(() => { for (let c = 0; c < spec.k; c++) pub.publish(channelName(c), WARM); }, 20000);
    }
    const opened = await pool.open(conns);
    clearInterval(warm);
    await sleep(spec.idle ? 1500 : 300);
    const connected = sample(target.pids());
    res.connections = conns.length;
    res.failedConnections = opened.failed;
    res.connectPerSec = round(conns.length / (opened.ms / 1000), 0);
    res.serverCpuUsPerConnect = round(delta(base, connected).cpuUs / conns.length);
    res.rssBaseKb = base.rssKb;
    res.rssKb = connected.rssKb;
    res.rssPerConnBytes = round(((connected.rssKb - base.rssKb) * 1024) / conns.length, 0);
    if (spec.idle) { res.errors = (await pool.stats()).errors; return res; }

    if (spec.warmS > 0 && !spec.rolling) await warmUp(pub, spec);
    const probe = await probeFor(target);
    await pool.reset();
    const r0 = redis.pids.map((pid) => sample([pid]));
    const s0 = sample(target.pids());
    const segs0 = tcpSegsOut(target.port);
    const me0 = process.cpuUsage();
    const t0 = performance.now();
    windowHook(target, spec);
    const move = spec.rolling ? rollingDrain(target, pool, spec.rolling) : null;
    const total = await publishFor(pub, spec);
    if (move) res.move = await move;
    const sent = sentPerChannel(total, spec.k);
    const redisCpu = () => redisShards(redis, r0, sent);
    const expected = conns.reduce((a, [, ch]) => a + sent[ch], 0);
    let last = -1; let lastChange = performance.now(); let got = 0;
    for (;;) {
      const { received } = await pool.count();
      got = received;
      if (received >= expected) break;
      if (received !== last) { last = received; lastChange = performance.now(); }
      if (performance.now() - lastChange > 3000 || performance.now() - t0 > (spec.seconds + 10) * 1000) break;
      await sleep(50);
    }
    const wallMs = performance.now() - t0;
    const s1 = sample(target.pids());
    const shardCpu = redisCpu();
    const segs1 = tcpSegsOut(target.port);
    const me = process.cpuUsage(me0);
    const st = await pool.stats(sent);
    const runtime = await probe?.end();
    const d = delta(s0, s1);
    const deliveries = got;
    const cycles = Object.values(st.per).reduce((a, s) => a + s.cycles, 0);
    const writes = segs0 !== null && segs1 !== null ? segs1 - segs0 : null;
    Object.assign(res, {
      published: total, expected, deliveries,
      lost: Object.values(st.per).reduce((a, s) => a + s.lost, 0),
      resets: Object.values(st.per).reduce((a, s) => a + s.resets, 0),
      late: Object.values(st.per).reduce((a, s) => a + s.late, 0),
      dups: Object.values(st.per).reduce((a, s) => a + s.dups, 0),
      wallS: round(wallMs / 1000),
      serverMainThreadShare: d.cpuUs > 0 ? round(d.mainUs / d.cpuUs) : null,
      deliveriesPerSec: round(deliveries / (wallMs / 1000), 0),
      serverCpuS: round(d.cpuUs / 1e6, 3),
      serverCpuUsPerDelivery: round(d.cpuUs / deliveries, 3),
      deliveriesPerCpuS: round(deliveries / (d.cpuUs / 1e6), 0),
      serverSysShare: round(d.sysUs / Math.max(1, d.cpuUs), 2),
      tcpSegsOut: writes, syscw: d.syscw,
      msgsPerWrite: writes ? round(deliveries / writes) : null,
      msgsPerSyscw: d.syscw ? round(deliveries / d.syscw) : null,
      pollCycles: cycles || undefined,
      serverCpuUsPerPollCycle: cycles ? round(d.cpuUs / cycles) : undefined,
      loadgenCpuS: round((st.cpuUs + me.user + me.system) / 1e6, 3),
      errors: st.errors,
      ...(runtime && { runtime }),
      redisShards: shardCpu,
      perTransport: Object.fromEntries(Object.entries(st.per).map(([t, s]) => [t, {
        deliveries: s.received, lost: s.lost, resets: s.resets, late: s.late, dups: s.dups, bad: s.bad, pollCycles: s.cycles || undefined, latencyMs: s.hist.summary(),
        ...(s.moveHist && { moveLatencyMs: s.moveHist.summary() }),
      }])),
    });
    return res;
  } finally {
    // A server process that died and was replaced (an nginx worker) invalidates the row.
    // (Expected in rolling-restart, which drains a worker on purpose.)
    if (!spec.rolling && target.pids().join() !== pids0) res.errors = { ...res.errors, 'server-process-restarted': 1 };
    pub.close();
    await pool.close();
    await target.stop();
  }
}

/**
 * rolling-restart: `atS` into the window, SIGTERM to one worker (a child of the supervisor):
 * it drains its clients over drain.window and exits, and the supervisor starts a new one.
 * The move window, for its own latency histogram, runs from the SIGTERM until 1 s after the
 * drained worker is gone (deliveries whose send time falls in it).
 */
async function rollingDrain(target, pool, { atS }) {
  await sleep(atS * 1000);
  const before = target.workerPids();
  const victim = before[0];
  if (!victim) return { error: 'no worker pid found' };
  const fromUs = nowUs();
  const t0 = performance.now();
  await pool.move(fromUs, Infinity);
  process.kill(victim, 'SIGTERM');
  let goneMs = null; let replacement = null; let replacedMs = null;
  for (let i = 0; i < 600 && (goneMs === null || replacement === null); i++) {
    await sleep(50);
    const now = target.workerPids();
    if (goneMs === null && !now.includes(victim)) goneMs = Math.round(performance.now() - t0);
    const fresh = now.filter((p) => !before.includes(p));
    if (replacement === null && fresh.length > 0) { replacement = fresh[0]; replacedMs = Math.round(performance.now() - t0); }
  }
  await sleep(1000);
  await pool.move(fromUs, nowUs());
  return { drainedPid: victim, workersBefore: before, drainedExitedAfterMs: goneMs, replacementPid: replacement, replacementSeenAfterMs: replacedMs, moveWindowMs: Math.round(performance.now() - t0) };
}

/** Herald's GC and event-loop delay over the window (runtime-probe.mjs); the peers have no /metrics. */
function probeFor(target) {
  return target.name === 'herald' ? runtimeProbe(target.port) : null;
}

/**
 * The scenario's own traffic, unmarked, for `spec.warmS` seconds before the measured window:
 * every target then runs its steady state, not its first seconds (for Herald and the floor,
 * V8 compiling the hot paths, 15–20% of a cold process' CPU; nginx has no JIT). Clients see
 * these messages (poll cursors move on) but do not count them.
 */
async function warmUp(pub, spec) {
  await publishFor(pub, { ...spec, seconds: spec.warmS }, (_seq, _ts, size) => WARM.padEnd(size, 'x'));
  for (let i = 0; i < 200 && pub.pending() > 0; i++) await sleep(25);
  await sleep(500);
}

/** One unmarked message per channel, accepted by the publisher's peer before it resolves. */
async function publishWarm(pub, k) {
  for (let c = 0; c < k; c++) pub.publish(channelName(c), WARM);
  for (let i = 0; i < 200 && pub.pending() > 0; i++) await sleep(25);
  await sleep(100);
}

/** Warm-up churn runs in batches of this many cycles until warmS has passed. */
const WARM_CHURN_BATCH = 1000;

async function churn(target, pool, pub, spec, base) {
  const t = Object.keys(spec.mix)[0];
  const channels = Array.from({ length: spec.k }, (_, i) => channelName(i));
  let cursor;
  if (target.name === 'nchan') {
    // Its subscribers ask for the channel buffer (wire.pathFor): it must not be empty (an
    // empty one with that request trips an assertion in Nchan 1.3's spool and kills the worker).
    await publishWarm(pub, spec.k);
  } else if (t === 'poll') {
    // A poll cycle answered at once needs a message after the poller's position on every
    // channel: one SSE subscriber per channel keeps Herald's broker subscriptions (and so its
    // history) up, then one warm-up message per channel is published after the head cursor.
    // The cursor is taken once every channel is covered: one taken before would predate the
    // coverage, and every poll would be answered with a reset (not_covered), not the message.
    await pool.open(channels.map((ch) => ['sse', ch]));
    cursor = await pollCursor(target.port, channels[0]);
    await publishWarm(pub, spec.k);
  }
  // warmS seconds of the same churn, not measured (see warmUp).
  const warmUntil = performance.now() + spec.warmS * 1000;
  while (performance.now() < warmUntil) {
    await pool.churn({ cycles: WARM_CHURN_BATCH, concurrency: spec.churn.concurrency, transport: t, channels, cursor });
  }
  const probe = await probeFor(target);
  await pool.reset();
  const s0 = sample(target.pids());
  windowHook(target, spec);
  const r = await pool.churn({ cycles: spec.churn.cycles, concurrency: spec.churn.concurrency, transport: t, channels, cursor });
  const s1 = sample(target.pids());
  const st = await pool.stats();
  const runtime = await probe?.end();
  const d = delta(s0, s1);
  const s = st.per[t];
  return {
    connections: r.cycles,
    churnCycles: s?.cycles ?? 0,
    churnPerSec: round((s?.cycles ?? 0) / (r.ms / 1000), 0),
    serverCpuUsPerCycle: round(d.cpuUs / Math.max(1, s?.cycles ?? 0)),
    serverCpuS: round(d.cpuUs / 1e6, 3),
    serverMainThreadShare: d.cpuUs > 0 ? round(d.mainUs / d.cpuUs) : null,
    // Kernel time per cycle is mostly the connection's own (accept, close, one read, one
    // write) and varies with the machine's TIME_WAIT load; user time is the server's code.
    serverSysShare: round(d.sysUs / Math.max(1, d.cpuUs), 2),
    serverUserUsPerCycle: round(d.userUs / Math.max(1, s?.cycles ?? 0), 1),
    rssBaseKb: base.rssKb, rssKb: s1.rssKb,
    loadgenCpuS: round(st.cpuUs / 1e6, 3),
    errors: st.errors,
    ...(runtime && { runtime }),
    perTransport: { [t]: { cycles: s?.cycles ?? 0, latencyMs: s?.hist.summary() } },
  };
}
