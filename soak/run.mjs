#!/usr/bin/env node
/**
 * `npm run soak [-- options]`: minutes, not part of `npm test`. Holds N connections across SSE,
 * WebSocket and long-poll against one Herald (Redis broker), publishes steadily, churns
 * subscribe/leave cycles alongside, and every few seconds samples Herald's RSS (/proc), heap and
 * event-loop delay (its own /metrics) and the deliveries clients parsed. Writes a CSV, an SVG
 * plot and a JSON summary, and exits 1 when memory trends upward after warm-up or any message
 * is lost without a reset.
 *
 * Client load runs in worker processes (bench/lib/clients.mjs), each well under the 20,000
 * open-files cap; Herald holds the N server-side sockets itself.
 *
 * Options: --minutes 5  --connections 10000  --mix 45,45,10 (sse,ws,poll %)  --channels 100
 *          --rate 50 (messages/s over all channels)  --churn 20 (subscribe/leave cycles/s)
 *          --sample 5 (seconds)  --warmup 0.3 (share of the run ignored for the trend)
 *          --out soak/results  --name NAME  --note "text for the summary"
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientPool } from '../bench/lib/clients.mjs';
import { sleep, nowUs } from '../bench/lib/net-util.mjs';
import { sample } from '../bench/lib/proc.mjs';
import { redisPublisher, startRedis } from '../bench/lib/publishers.mjs';
import { startHerald } from '../bench/lib/targets.mjs';
import { channelName, payload } from '../bench/lib/wire.mjs';
import { memoryTrend } from './trend.mjs';
import { plot } from './plot.mjs';

function parseArgs(argv) {
  const o = { minutes: 5, connections: 10000, mix: [45, 45, 10], channels: 100, rate: 50, churn: 20, sample: 5, warmup: 0.3, out: null, name: null, note: '' };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    const value = argv[++i];
    if (!(key in o) || value === undefined) throw new Error(`unknown option or missing value: ${argv[i - 1]}`);
    o[key] = key === 'mix' ? value.split(',').map(Number) : typeof o[key] === 'number' ? Number(value) : value;
  }
  return o;
}

/** Reads the gauges Herald exports about itself from one /metrics scrape. */
async function heraldGauges(port) {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const value = (name) => {
    const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
    return m === null ? NaN : Number(m[1]);
  };
  const open = [...text.matchAll(/^herald_connections_open\{[^}]*\} ([0-9.e+-]+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  return { heapUsedMb: value('nodejs_heap_size_used_bytes') / 2 ** 20, eldP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000, eldMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1000, open };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const root = fileURLToPath(new URL('..', import.meta.url));
  const outDir = o.out ?? join(root, 'soak/results');
  const name = o.name ?? `${new Date().toISOString().slice(0, 10)}-soak`;
  const redis = await startRedis();
  const herald = await startHerald({ redis });
  const pool = await clientPool({ n: o.connections, target: 'herald', port: herald.port });
  const pub = await redisPublisher(redis.port);
  const rows = [];
  let failed = false;
  try {
    const [sse, ws] = o.mix.map((pct) => Math.round((o.connections * pct) / 100));
    const counts = { sse, ws, poll: o.connections - sse - ws };
    const conns = [];
    let i = 0;
    for (const [t, n] of Object.entries(counts)) for (let j = 0; j < n; j++, i++) conns.push([t, channelName(i % o.channels)]);
    process.stderr.write(`soak: opening ${conns.length} connections (${JSON.stringify(counts)})...\n`);
    const opened = await pool.open(conns);
    process.stderr.write(`soak: open in ${Math.round(opened.ms)} ms, ${opened.failed} failed\n`);
    await pool.reset();

    const sent = {};
    for (let c = 0; c < o.channels; c++) sent[channelName(c)] = 0;
    const channels = Object.keys(sent);
    const t0 = performance.now();
    const endAt = t0 + o.minutes * 60_000;
    // Steady publishing: message g goes to channel g % channels, its per-channel seq in the payload.
    let g = 0;
    const publisher = setInterval(() => {
      const due = Math.min(Math.floor(((performance.now() - t0) / 1000) * o.rate), Math.floor((o.minutes * 60) * o.rate));
      const ts = nowUs();
      for (; g < due; g++) {
        const ch = channels[g % channels.length];
        pub.publish(ch, payload(sent[ch]++, ts, 64));
      }
    }, 20);
    // Churn alongside: short-lived subscribers that go live and leave, a batch per second.
    let churning = true;
    const churnLoop = (async () => {
      const kinds = ['sse', 'ws'];
      for (let k = 0; churning; k++) {
        const started = performance.now();
        if (o.churn > 0) await pool.churn({ cycles: o.churn, concurrency: Math.min(o.churn, 16), transport: kinds[k % 2], channels });
        await sleep(Math.max(0, 1000 - (performance.now() - started)));
      }
    })();

    const header = 'elapsed_s,rss_mb,heap_used_mb,eld_p99_ms,eld_max_ms,deliveries,deliveries_per_s,open_connections,cycles,published';
    let lastReceived = 0;
    let lastAt = performance.now();
    // Samples stop at the end of publishing: a later one would show the publisher stopping.
    while (performance.now() + o.sample * 1000 <= endAt + 500) {
      await sleep(o.sample * 1000);
      const now = performance.now();
      const [{ received, cycles }, gauges] = await Promise.all([pool.count(), heraldGauges(herald.port)]);
      const rssMb = sample(herald.pids()).rssKb / 1024;
      const row = {
        elapsedS: Math.round((now - t0) / 100) / 10, rssMb, heapUsedMb: gauges.heapUsedMb, eldP99Ms: gauges.eldP99Ms, eldMaxMs: gauges.eldMaxMs,
        deliveries: received, deliveriesPerS: Math.round((received - lastReceived) / ((now - lastAt) / 1000)), open: gauges.open, churnCycles: cycles, published: g,
      };
      lastReceived = received;
      lastAt = now;
      rows.push(row);
      process.stderr.write(`soak: ${row.elapsedS}s rss ${rssMb.toFixed(1)} MB heap ${row.heapUsedMb.toFixed(1)} MB eld p99 ${row.eldP99Ms.toFixed(1)} ms ${row.deliveriesPerS} deliveries/s open ${row.open}\n`);
    }
    clearInterval(publisher);
    churning = false;
    await churnLoop;
    // Let the last messages (and the long-polls' next cycle) arrive before counting.
    for (let k = 0; k < 40 && pub.pending() > 0; k++) await sleep(50);
    await sleep(3000);
    const st = await pool.stats(sent);
    const sum = (key) => Object.values(st.per).reduce((a, s) => a + (s[key] ?? 0), 0);
    const rss = memoryTrend(rows.map((r) => [r.elapsedS, r.rssMb]), o.warmup);
    const heap = memoryTrend(rows.map((r) => [r.elapsedS, r.heapUsedMb]), o.warmup);
    // Upward trend: the last third of the post-warm-up samples above the first third by more
    // than 5% + 5 MB (RSS) or 10% + 5 MB (heap, which saw-tooths with GC).
    const rssGrew = rss.growthMb > 5 + 0.05 * rss.firstMeanMb;
    const heapGrew = heap.growthMb > 5 + 0.1 * heap.firstMeanMb;
    const lost = sum('lost');
    failed = rssGrew || heapGrew || lost > 0 || opened.failed > 0;
    const summary = {
      when: new Date().toISOString(), options: o, connections: counts, failedConnections: opened.failed,
      published: g, deliveries: sum('received'), lost, resetsTold: sum('resets'), late: sum('late'), dups: sum('dups'),
      // Churn subscribe/leave cycles plus long-poll answers.
      cycles: rows.at(-1)?.churnCycles ?? 0, errors: st.errors,
      rss: { ...rss, grew: rssGrew }, heap: { ...heap, grew: heapGrew },
      eldP99MsMax: Math.max(...rows.map((r) => r.eldP99Ms)),
      verdict: failed ? 'FAIL' : 'PASS', note: o.note,
    };
    mkdirSync(outDir, { recursive: true });
    const line = (r) => [r.elapsedS, r.rssMb.toFixed(2), r.heapUsedMb.toFixed(2), r.eldP99Ms.toFixed(2), r.eldMaxMs.toFixed(2), r.deliveries, r.deliveriesPerS, r.open, r.churnCycles, r.published].join(',');
    writeFileSync(join(outDir, `${name}.csv`), [header, ...rows.map(line)].join('\n') + '\n');
    writeFileSync(join(outDir, `${name}.svg`), plot(rows, summary));
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(summary, null, 2) + '\n');
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    process.stderr.write(`soak: ${summary.verdict}; wrote ${join(outDir, name)}.{csv,svg,json}\n`);
  } finally {
    pub.close();
    await pool.close();
    await herald.stop();
    await redis.stop();
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
