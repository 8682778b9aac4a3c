#!/usr/bin/env node
/**
 * `npm run bench [-- options]`: every preset against Herald and the floor (and Nchan with
 * --nchan, which is what `npm run bench:compare` passes), one fresh server per scenario, one
 * Redis for the run. Writes bench/results/<stamp>.json, .md and .svg.
 *
 * Options: --quick  --preset a,b (idle, broadcast, hot, many-channels, one-per-channel, churn, cluster, workers, rolling-restart, mixed, overload)  --transport sse,ws,poll,mixed  --targets herald,floor,nchan
 *          --label TEXT (only rows whose label contains it, e.g. "5000 subs")  --nchan  --out DIR  --name NAME
 *          --rounds N (odd; every row N times, the targets' order reversed each round: the scorecard
 *          judges each figure by its median round, bench/README.md "Rounds")
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scenarios, floorFor } from './lib/presets.mjs';
import { runScenario } from './lib/scenario.mjs';
import { startRedis } from './lib/publishers.mjs';
import { nchanAvailable, HERALD_MAIN } from './lib/targets.mjs';
import { markdown, svg } from './lib/report.mjs';
import { compareRuns, historySvg } from './lib/history.mjs';
import { isLedgerRun, ledgerMarkdown } from './lib/ledger.mjs';
import { existsSync } from 'node:fs';

/**
 * Where the uWS floor (lib/uws-floor-server.mjs) is measured: the unbatched rows and churn,
 * the ones whose targets against Nchan are about per-request and per-message cost in
 * JavaScript on uWS, and workers (as many floor processes on one port as Herald has workers).
 * Not idle, hot (batched: floor-batch) or Herald-only presets.
 */
const UWS_FLOOR_PRESETS = new Set(['broadcast', 'many-channels', 'one-per-channel', 'churn', 'workers', 'mixed']);

function parseArgs(argv) {
  const o = { quick: false, nchan: false, preset: null, transport: null, targets: null, out: null, name: null, rounds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const list = () => argv[++i].split(',').map((s) => s.trim()).filter(Boolean);
    if (a === '--quick') o.quick = true;
    else if (a === '--nchan') o.nchan = true;
    else if (a === '--preset') o.preset = list();
    else if (a === '--transport') o.transport = list();
    else if (a === '--targets') o.targets = list();
    else if (a === '--label') o.label = argv[++i];
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--name') o.name = argv[++i];
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  // An odd count has one median round per figure, so its verdict is the majority's (bench/lib/scorecard.mjs).
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds % 2 === 0) throw new Error(`--rounds must be an odd whole number (1, 3, 5…), got ${o.rounds}`);
  return o;
}

export async function main(argv) {
  const o = parseArgs(argv);
  let targets = o.targets ?? (o.nchan ? ['herald', 'nchan', 'floor', 'uws-floor'] : ['herald', 'floor']);
  if (targets.includes('nchan') && !nchanAvailable()) throw new Error('nginx with the nchan module is not installed (npm run bench:compare installs it)');
  if (targets.includes('herald') && !existsSync(HERALD_MAIN)) throw new Error(`${HERALD_MAIN} is missing: npm run build first`);
  const list = scenarios({ quick: o.quick })
    .filter((s) => !o.preset || o.preset.includes(s.preset))
    .filter((s) => !o.transport || o.transport.includes(s.transport))
    .filter((s) => !o.label || s.label.includes(o.label));
  const outDir = o.out ?? fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const started = new Date();
  const redis = await startRedis();
  const results = [];
  try {
    for (let round = 0; round < o.rounds; round++) {
      // Reversed every other round, so no target always runs first after a server change.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      const tagRound = o.rounds > 1 ? { round } : {};
      for (const s of list) {
        for (const t of order) {
          if (s.heraldOnly && t !== 'herald') continue;
          if (t === 'uws-floor' && !UWS_FLOOR_PRESETS.has(s.preset)) continue;
          const target = t === 'floor' ? floorFor(s) : t;
          const t0 = performance.now();
          try {
            const r = { ...(await runScenario(target, redis, s)), ...tagRound };
            results.push(r);
            process.stderr.write(`${o.rounds > 1 ? `[${round + 1}/${o.rounds}] ` : ''}${s.preset.padEnd(13)} ${s.transport.padEnd(5)} ${s.label.padEnd(34)} ${target.padEnd(11)} ` +
              `${summaryLine(r)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
          } catch (err) {
            results.push({ preset: s.preset, label: s.label, target, spec: s, failed: String(err.stack ?? err), ...tagRound });
            process.stderr.write(`${s.preset} ${s.transport} ${target}: FAILED ${err.message}\n`);
          }
        }
      }
    }
  } finally {
    await redis.stop();
  }
  const meta = {
    date: started.toISOString(), quick: o.quick, targets, rounds: o.rounds, node: process.version,
    cpus: (await import('node:os')).cpus().length, durationS: Math.round((Date.now() - started.getTime()) / 1000),
  };
  const stamp = o.name ?? `${started.toISOString().slice(0, 10)}${o.quick ? '-quick' : ''}${targets.includes('nchan') ? '-compare' : ''}`;
  writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify({ meta, results }, null, 1));
  writeFileSync(join(outDir, `${stamp}.md`), markdown(meta, results));
  writeFileSync(join(outDir, `${stamp}.svg`), svg(meta, results));
  process.stderr.write(`results: ${join(outDir, stamp)}.{json,md,svg}\n`);
  // The compare runs in this folder over time (the committed ones, in bench/results/).
  const runs = compareRuns(outDir);
  if (runs.length > 0) {
    writeFileSync(join(outDir, 'history.svg'), historySvg(runs));
    process.stderr.write(`history of ${runs.length} compare run(s): ${join(outDir, 'history.svg')}\n`);
  }
  const ledgerRuns = runs.filter(isLedgerRun);
  if (ledgerRuns.length > 0) {
    writeFileSync(join(outDir, 'ledger.md'), ledgerMarkdown(ledgerRuns));
    process.stderr.write(`ledger of ${ledgerRuns.length} run(s) of rounds: ${join(outDir, 'ledger.md')}\n`);
  }
  return { meta, results };
}

function summaryLine(r) {
  if (r.churnPerSec !== undefined) return `${r.churnPerSec} cycles/s, ${r.serverCpuUsPerCycle} µs/cycle`;
  if (r.deliveries === undefined) return `${r.connections} conns, ${r.rssPerConnBytes} B/conn, ${r.connectPerSec} conn/s`;
  const p99 = Object.values(r.perTransport).map((x) => x.latencyMs.p99).join('/');
  const shards = r.spec.preset === 'cluster' ? `, Redis CPU µs/publish ${r.redisShards.map((x) => x.cpuUsPerPublish).join('/')}` : '';
  const move = r.spec.rolling ? `, move p99 ${Object.values(r.perTransport).map((x) => x.moveLatencyMs?.p99).join('/')} ms, errors ${JSON.stringify(r.errors)}` : '';
  return `${r.deliveriesPerSec}/s, ${r.serverCpuUsPerDelivery} µs/deliv, ${r.msgsPerWrite} msg/write, p99 ${p99} ms, lost ${r.lost}, resets ${r.resets}, late ${r.late}, dup ${r.dups}${shards}${move}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => { process.stderr.write(`${err.stack ?? err}\n`); process.exit(1); });
}
