/**
 * Results → a Markdown report (all scenarios, ratios within the run, the scorecard against
 * Nchan, issue-6 targets) and an
 * SVG chart (per transport: deliveries per CPU-second, p99, RSS per idle connection).
 */

import { scorecardMarkdown } from './scorecard.mjs';

const fmt = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : typeof v === 'number' ? (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 10 ** d) / 10 ** d)) : String(v));
const key = (r) => `${r.preset}|${r.label}|${r.spec?.mix ? Object.keys(r.spec.mix).join('+') : ''}`;
const transportOf = (r) => (r.spec?.mix ? (Object.keys(r.spec.mix).length > 1 ? 'mixed' : Object.keys(r.spec.mix)[0]) : '?');
/** The worst of the row's transports for one latency figure (p99, max…), null without latencies. */
const latencyOf = (r, figure) => (r.perTransport ? Math.max(...Object.values(r.perTransport).map((x) => x.latencyMs?.[figure] ?? 0)) : null);
const p99Of = (r) => latencyOf(r, 'p99');
const isFloor = (r) => r.target.startsWith('floor');

/**
 * Herald's GC and event-loop delay per measured window (runtime-probe.mjs), beside the row's
 * p99, so a tail can be told apart: GC pauses or long turns that reach it, or neither.
 */
function runtimeMarkdown(results) {
  const rows = results.filter((r) => r.target === 'herald' && r.runtime);
  if (rows.length === 0) return [];
  const L = ['## Herald\'s runtime in each window', '',
    'From Herald\'s /metrics at the window\'s start and end: main-thread GC pauses (prom-client\'s `nodejs_gc_duration_seconds`: ' +
    'minor = scavenges, major = mark-compact, incremental = marking steps) and the event-loop delay beyond a 10 ms timer ' +
    '(`nodejs_eventloop_lag_*`; turns under ~1 ms do not show). With `--workers`: GC summed over the workers, the delay\'s ' +
    'max the largest worker\'s, its p99 their average.', '',
    '| preset | transport | scenario | window s | GC pauses | minor ms | major ms | incremental ms | GC ms/s | pauses > 10 ms | loop delay p99 | max (ms) | latency p99 | max (ms) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const x = r.runtime;
    const g = (k) => x.gc[k] ?? { count: 0, ms: 0 };
    const count = Object.values(x.gc).reduce((a, v) => a + v.count, 0);
    const windowS = r.wallS ?? (r.churnPerSec ? r.churnCycles / r.churnPerSec : null);
    L.push(`| ${r.preset} | ${transportOf(r)} | ${r.label}${r.round === undefined ? '' : ` · round ${r.round + 1}`} | ${fmt(windowS, 1)} | ${count} | ${fmt(g('minor').ms, 1)} | ${fmt(g('major').ms, 1)} | ${fmt(g('incremental').ms, 1)} | ${windowS ? fmt(x.gcPauseMs / windowS, 1) : '–'} | ${x.gcPausesOver10ms} | ${fmt(x.loopDelayP99Ms, 2)} | ${fmt(x.loopDelayMaxMs, 2)} | ${fmt(p99Of(r), 2)} | ${fmt(latencyOf(r, 'max'), 2)} |`);
  }
  L.push('');
  return L;
}

/**
 * What the issue-6 checks and the chart read, one result per row: in a run of several rounds
 * (run.mjs --rounds), the first round's; the scorecard weighs every round.
 */
const firstRound = (results) => results.filter((r) => (r.round ?? 0) === 0);

/** The row's target, and its round in a run of several (run.mjs --rounds). */
const targetOf = (r) => (r.round === undefined ? r.target : `${r.target} · round ${r.round + 1}`);

/** The other targets' results of the same row and round. */
function peers(results, r) {
  const same = results.filter((x) => key(x) === key(r) && x.round === r.round && !x.failed);
  return { herald: same.find((x) => x.target === 'herald'), nchan: same.find((x) => x.target === 'nchan'), floor: same.find(isFloor) };
}

export function markdown(meta, results) {
  const L = [];
  L.push(`# Herald bench — ${meta.date.slice(0, 10)}${meta.quick ? ' (quick)' : ''}`, '');
  L.push(`Targets: ${meta.targets.join(', ')} · Node ${meta.node} · ${meta.cpus} CPUs · run took ${meta.durationS} s. ` +
    'Server CPU, writes and RSS come from /proc and `ss -ti` of the server process (Nchan: its single worker); ' +
    'latency is publish → client parse, on one monotonic clock. "× floor" is CPU per delivery divided by the floor\'s ' +
    'in the same scenario (hot: the 10 ms coalescing floor).', '');
  const presets = [...new Set(results.map((r) => r.preset))];
  for (const p of presets) {
    const rows = results.filter((r) => r.preset === p);
    L.push(`## ${p}`, '');
    if (p === 'idle') {
      L.push('| transport | scenario | target | conns | RSS/conn | ×Nchan | RSS total MB | conn/s | CPU µs/connect | errors |', '|---|---|---|---|---|---|---|---|---|---|');
      for (const r of rows) {
        if (r.failed) { L.push(`| ${transportOf(r)} | ${r.label} | ${targetOf(r)} | FAILED: ${r.failed.split('\n')[0]} |`); continue; }
        const { nchan } = peers(results, r);
        L.push(`| ${transportOf(r)} | ${r.label} | ${targetOf(r)} | ${fmt(r.connections)} | ${fmt(r.rssPerConnBytes)} B | ${nchan && r !== nchan ? fmt(r.rssPerConnBytes / nchan.rssPerConnBytes, 2) : ''} | ${fmt(r.rssKb / 1024)} | ${fmt(r.connectPerSec)} | ${fmt(r.serverCpuUsPerConnect)} | ${errs(r)} |`);
      }
    } else if (p === 'churn') {
      L.push('| transport | scenario | target | cycles/s | CPU µs/cycle | × floor | connect→live p50 | p99 | max (ms) | errors |', '|---|---|---|---|---|---|---|---|---|---|');
      for (const r of rows) {
        if (r.failed) { L.push(`| ${transportOf(r)} | ${r.label} | ${targetOf(r)} | FAILED: ${r.failed.split('\n')[0]} |`); continue; }
        const { floor } = peers(results, r);
        const lat = Object.values(r.perTransport)[0]?.latencyMs ?? {};
        L.push(`| ${transportOf(r)} | ${r.label} | ${targetOf(r)} | ${fmt(r.churnPerSec)} | ${fmt(r.serverCpuUsPerCycle)} | ${floor && !isFloor(r) ? fmt(r.serverCpuUsPerCycle / floor.serverCpuUsPerCycle, 2) : ''} | ${fmt(lat.p50, 2)} | ${fmt(lat.p99, 2)} | ${fmt(lat.max, 2)} | ${errs(r)} |`);
      }
    } else {
      L.push('| transport | scenario | target | deliveries/s | deliveries/CPU-s | CPU µs/delivery | × floor | msgs/write | p50 | p90 | p99 | p99.9 | max (ms) | lost | resets | late | dups | loadgen CPU s | errors |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
      for (const r of rows) {
        if (r.failed) { L.push(`| ${transportOf(r)} | ${r.label} | ${targetOf(r)} | FAILED: ${r.failed.split('\n')[0]} |`); continue; }
        const { floor } = peers(results, r);
        for (const [t, x] of Object.entries(r.perTransport)) {
          const l = x.latencyMs;
          L.push(`| ${t} | ${r.label} | ${targetOf(r)} | ${fmt(r.deliveriesPerSec)} | ${fmt(r.deliveriesPerCpuS)} | ${fmt(r.serverCpuUsPerDelivery, 2)} | ${floor && !isFloor(r) ? fmt(r.serverCpuUsPerDelivery / floor.serverCpuUsPerDelivery, 2) : ''} | ${fmt(r.msgsPerWrite, 2)} | ${fmt(l.p50, 2)} | ${fmt(l.p90, 2)} | ${fmt(l.p99, 2)} | ${fmt(l.p999, 2)} | ${fmt(l.max, 2)} | ${x.lost} | ${x.resets ?? 0} | ${x.late ?? 0} | ${x.dups} | ${fmt(r.loadgenCpuS, 2)} | ${errs(r)} |`);
        }
      }
    }
    if (p === 'cluster') {
      L.push('', 'Redis per shard (CPU over the measured window; µs per message published to that shard):', '',
        '| transport | scenario | shard | messages | Redis CPU s | Redis CPU µs/publish |', '|---|---|---|---|---|---|');
      for (const r of rows.filter((x) => !x.failed)) {
        for (const sh of r.redisShards ?? []) L.push(`| ${transportOf(r)} | ${r.label} | :${sh.port} | ${fmt(sh.published)} | ${fmt(sh.cpuS, 3)} | ${fmt(sh.cpuUsPerPublish, 2)} |`);
      }
    }
    if (p === 'rolling-restart') {
      L.push('', 'The move (one worker SIGTERMed mid-run, drained over drain.window, restarted by the supervisor; latency of the messages sent from the SIGTERM until 1 s after that worker exited):', '',
        '| scenario | subscribers | reconnects | resets | lost | dups | move p50 | move p99 | move max (ms) | worker gone after (ms) | replacement after (ms) |', '|---|---|---|---|---|---|---|---|---|---|---|');
      for (const r of rows.filter((x) => !x.failed)) {
        const x = r.perTransport.sse; const m = x?.moveLatencyMs;
        L.push(`| ${r.label} | ${fmt(r.connections)} | ${fmt(r.errors?.['sse-reconnect'] ?? 0)} | ${x?.resets ?? 0} | ${x?.lost} | ${x?.dups} | ${fmt(m?.p50, 2)} | ${fmt(m?.p99, 2)} | ${fmt(m?.max, 2)} | ${fmt(r.move?.drainedExitedAfterMs)} | ${fmt(r.move?.replacementSeenAfterMs)} |`);
      }
    }
    L.push('');
  }
  L.push(...runtimeMarkdown(results));
  L.push(...scorecardMarkdown(results, meta.cpus));
  L.push(`## Issue 6 targets${meta.rounds > 1 ? ` (round 1 of ${meta.rounds})` : ''}`, '', '| target | measured | verdict |', '|---|---|---|');
  for (const [name, measured, ok] of targetChecks(firstRound(results))) L.push(`| ${name} | ${measured} | ${ok === null ? 'not measured' : ok ? 'met' : '**not met**'} |`);
  L.push('');
  return L.join('\n');
}

function errs(r) {
  const e = Object.entries(r.errors ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ');
  return e || (r.failedConnections ? `failed conns: ${r.failedConnections}` : '');
}

const tag = (r) => `${r.preset}/${transportOf(r)}${r.preset === 'broadcast' ? `@${r.connections}` : ''}`;

function targetChecks(results) {
  const ok = results.filter((r) => !r.failed);
  const herald = ok.filter((r) => r.target === 'herald');
  const out = [];
  const ratio = (r, f) => { const p = peers(results, r); return p.floor && p.herald ? f(p.herald, p.floor) : null; };
  for (const t of ['sse', 'ws']) {
    const rs = herald.filter((r) => r.preset === 'broadcast' && transportOf(r) === t).map((r) => ratio(r, (h, f) => h.serverCpuUsPerDelivery / f.serverCpuUsPerDelivery)).filter((x) => x !== null);
    out.push([`Unbatched (broadcast) ${t}: CPU/delivery ≤ 1.2 × floor`, rs.length ? `worst ${fmt(Math.max(...rs), 2)}×` : '–', rs.length ? Math.max(...rs) <= 1.2 : null]);
  }
  for (const t of ['sse', 'ws']) {
    const r = herald.find((x) => x.preset === 'hot' && transportOf(x) === t);
    out.push([`Hot ${t}: ≥ 8 msgs/write and ≤ 1 µs CPU/delivery`, r ? `${fmt(r.msgsPerWrite, 2)} msgs/write, ${fmt(r.serverCpuUsPerDelivery, 2)} µs` : '–', r ? r.msgsPerWrite >= 8 && r.serverCpuUsPerDelivery <= 1 : null]);
  }
  // SSE and WS only (the issue's wording); a row whose subscribers were not all live is no measure.
  const idle = herald.filter((r) => r.preset === 'idle' && ['sse', 'ws'].includes(transportOf(r)));
  if (idle.length) {
    const worst = Math.max(...idle.map((r) => r.rssPerConnBytes));
    const n = Math.min(...idle.map((r) => r.connections));
    const live = idle.every((r) => !r.errors?.['not-live-in-time']);
    out.push([`Idle (SSE, WS): ≤ 2 KiB RSS/connection at 15,000+ connections`, `${idle.map((r) => `${transportOf(r)} ${fmt(r.rssPerConnBytes)} B`).join(', ')} at ${fmt(n)} connections${n < 15000 ? ' (run idle at full size to judge)' : ''}${live ? '' : ' (not all live)'}`, n >= 15000 && live ? worst <= 2048 : null]);
  }
  const poll = herald.filter((r) => r.preset === 'broadcast' && transportOf(r) === 'poll').map((r) => ratio(r, (h, f) => h.serverCpuUsPerPollCycle / f.serverCpuUsPerPollCycle)).filter((x) => x !== null);
  out.push(['Long-poll: CPU per poll cycle ≤ 1.5 × bare keep-alive request/response (floor)', poll.length ? `worst ${fmt(Math.max(...poll), 2)}×` : '–', poll.length ? Math.max(...poll) <= 1.5 : null]);
  const vs = herald.map((h) => [h, peers(results, h).nchan]).filter(([, n]) => n);
  if (vs.length) {
    const p99 = vs.filter(([h]) => p99Of(h) !== null && h.deliveries !== undefined);
    const lose = p99.filter(([h, n]) => p99Of(h) >= p99Of(n)).map(([h, n]) => `${tag(h)} (${fmt(p99Of(h), 2)} vs ${fmt(p99Of(n), 2)} ms)`);
    out.push(['vs Nchan: p99 lower on every scenario', !p99.length ? '–' : lose.length ? `higher on ${lose.join(', ')}; lower on the other ${p99.length - lose.length}` : `lower on all ${p99.length}`, p99.length ? lose.length === 0 : null]);
    const eff = vs.filter(([h]) => h.deliveriesPerCpuS);
    const bad = eff.filter(([h, n]) => h.deliveriesPerCpuS / n.deliveriesPerCpuS < (h.preset === 'hot' ? 3 : 1));
    out.push(['vs Nchan: deliveries/CPU-s ≥ 1× (≥ 3× hot)', eff.map(([h, n]) => `${tag(h)} ${fmt(h.deliveriesPerCpuS / n.deliveriesPerCpuS, 2)}×`).join(', ') || '–', eff.length ? bad.length === 0 : null]);
    const mem = vs.filter(([h]) => h.preset === 'idle');
    if (mem.length) out.push(['vs Nchan: RSS/connection ≤ 1/4', mem.map(([h, n]) => `${transportOf(h)} ${fmt(h.rssPerConnBytes / n.rssPerConnBytes, 2)}×`).join(', '), mem.every(([h, n]) => h.rssPerConnBytes / n.rssPerConnBytes <= 0.25)]);
  }
  return out;
}

/** Chart: rows = metric, columns = transport, one bar per target. Plain SVG, no dependency. */
export function svg(meta, results) {
  const ok = firstRound(results).filter((r) => !r.failed);
  const targets = ['herald', 'nchan', 'floor'].filter((t) => ok.some((r) => (t === 'floor' ? isFloor(r) : r.target === t)));
  const colors = { herald: '#2b7bb9', nchan: '#d9822b', floor: '#7a7a7a' };
  const widest = (t) => {
    const b = ok.filter((r) => r.preset === 'broadcast' && transportOf(r) === t);
    const n = Math.max(0, ...b.map((r) => r.connections ?? 0));
    return b.filter((r) => r.connections === n);
  };
  const pick = (rs, tg) => rs.find((r) => (tg === 'floor' ? isFloor(r) : r.target === tg));
  const metrics = [
    ['deliveries per CPU-second (broadcast, widest)', (t, tg) => pick(widest(t), tg)?.deliveriesPerCpuS, 'higher is better'],
    ['deliveries per CPU-second (hot)', (t, tg) => pick(ok.filter((r) => r.preset === 'hot' && transportOf(r) === t), tg)?.deliveriesPerCpuS, 'higher is better'],
    ['p99 latency, ms (broadcast, widest)', (t, tg) => { const r = pick(widest(t), tg); return r ? p99Of(r) : undefined; }, 'lower is better'],
    ['RSS per idle connection, bytes', (t, tg) => pick(ok.filter((r) => r.preset === 'idle' && transportOf(r) === t), tg)?.rssPerConnBytes, 'lower is better'],
  ];
  const transports = ['sse', 'ws', 'poll'];
  const colW = 300; const rowH = 40 + targets.length * 22; const left = 20; const top = 60;
  const W = left + transports.length * colW + 20; const H = top + metrics.length * (rowH + 30) + 20;
  const s = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">Herald bench ${meta.date.slice(0, 10)}${meta.quick ? ' (quick)' : ''}: ${targets.join(' vs ')}${meta.rounds > 1 ? ` (round 1 of ${meta.rounds})` : ''}</text>`];
  targets.forEach((tg, i) => s.push(`<rect x="${left + i * 110}" y="36" width="12" height="12" fill="${colors[tg]}"/><text x="${left + i * 110 + 16}" y="46">${tg}</text>`));
  metrics.forEach(([title, get, hint], mi) => {
    const y0 = top + mi * (rowH + 30);
    s.push(`<text x="${left}" y="${y0 + 14}" font-weight="bold">${title}</text><text x="${W - 20}" y="${y0 + 14}" text-anchor="end" fill="#666">${hint}</text>`);
    const vals = transports.flatMap((t) => targets.map((tg) => get(t, tg) ?? 0));
    const max = Math.max(1, ...vals);
    transports.forEach((t, ti) => {
      const x0 = left + ti * colW;
      s.push(`<text x="${x0}" y="${y0 + 32}" fill="#333">${t}</text>`);
      targets.forEach((tg, k) => {
        const v = get(t, tg);
        const y = y0 + 40 + k * 22;
        const w = v ? Math.max(1, (v / max) * (colW - 110)) : 0;
        s.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="16" fill="${colors[tg]}"/>`);
        s.push(`<text x="${x0 + w + 4}" y="${y + 12}">${v === undefined || v === null ? 'n/a' : fmt(v, 2)}</text>`);
      });
    });
  });
  s.push('</svg>');
  return s.join('\n');
}
