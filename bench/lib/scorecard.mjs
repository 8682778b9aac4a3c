/**
 * The issue-15 scorecard: every Herald row against Nchan's in the same run, ratio by ratio,
 * each against its target (met or not), so one glance says which rows still lose.
 */

const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 10 ** d) / 10 ** d));
const key = (r) => `${r.preset}|${r.label}|${r.spec?.mix ? Object.keys(r.spec.mix).join('+') : ''}`;
const transportOf = (r) => (Object.keys(r.spec?.mix ?? {}).length > 1 ? 'mixed' : Object.keys(r.spec?.mix ?? { '?': 1 })[0]);

/** A row's tail is the OS scheduler's once the machine is this busy (bench/issue-15.md, thirteenth pass). */
export const SATURATED_SHARE = 0.9;

/**
 * How much of the machine the server and the load generator used together during a row's
 * window (both cores on this machine): near 1, the clients' re-polls and reads wait for a core
 * as much as for the server, and a p99 measures that contention.
 */
export function machineShare(r, cpus) {
  if (!(r.wallS > 0) || !(cpus > 0) || r.serverCpuS === undefined || r.loadgenCpuS === undefined) return null;
  return (r.serverCpuS + r.loadgenCpuS) / (r.wallS * cpus);
}

/**
 * [row, measure, herald, nchan, ratio, target text, met, floor ratio | null, floor meets | null,
 * floor name | null, machine share of Herald's row (p99 figures only) | null, every round's
 * ratio] for every comparable figure. The floor is judged by the same target: where it misses
 * too, the row says so. It is the uWS floor (bench/lib/uws-floor-server.mjs: no gateway logic at
 * all, on the same uWebSockets.js), and for the hot rows, where no uWS floor runs, the
 * coalescing floor (floor-server.mjs on raw sockets, flushing every 10 ms: what batching alone
 * gives).
 *
 * A run of several rounds (run.mjs --rounds, odd): each figure's entry is then its median
 * round's (values, ratio, verdict, machine share), the floor's ratio the median of the floor's,
 * and the last element lists every round's ratio (msgs/write: Herald's value) in run order.
 * Each target is a threshold, so the median's verdict is the majority's.
 */
export function scorecardRows(results, cpus = 2) {
  const rounds = [...new Set(results.map(roundOf))].sort((a, b) => a - b);
  if (rounds.length <= 1) return oneRound(results, cpus).map((r) => [...r.slice(0, 11), [sortValue(r)]]);
  const byFigure = new Map();
  for (const k of rounds) {
    for (const r of oneRound(results.filter((x) => roundOf(x) === k), cpus)) {
      const figure = `${r[0]}|${r[1]}`;
      if (!byFigure.has(figure)) byFigure.set(figure, []);
      byFigure.get(figure).push(r);
    }
  }
  return [...byFigure.values()].map((entries) => {
    const median = mid(entries.map(sortValue));
    const pick = entries.find((r) => sortValue(r) === median);
    const floors = entries.map((r) => r[7]).filter((x) => x !== null);
    const floorRatio = floors.length === 0 ? null : mid(floors);
    const floorMet = floors.length === 0 ? null : entries.filter((r) => r[8] === true).length * 2 > floors.length;
    const floorName = entries.find((r) => r[9] !== null)?.[9] ?? null;
    return [...pick.slice(0, 7), floorRatio, floorMet, floorName, pick[10], entries.map(sortValue)];
  });
}

const roundOf = (r) => r.round ?? 0;
/** The middle value of an odd count (the lower middle of an even one). */
const mid = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
/** What a figure's rounds are ordered by: its ratio, or Herald's own value where there is none (msgs/write). */
const sortValue = (r) => r[4] ?? r[2];

/** The figures of one round's results (all of them, in a run of one round). */
function oneRound(results, cpus) {
  const ok = results.filter((r) => !r.failed);
  const out = [];
  for (const h of ok.filter((r) => r.target === 'herald')) {
    const n = ok.find((r) => r.target === 'nchan' && key(r) === key(h));
    if (!n) continue;
    const u = ok.find((r) => r.target === 'uws-floor' && key(r) === key(h))
      ?? (h.preset === 'hot' ? ok.find((r) => r.target === 'floor-batch' && key(r) === key(h)) : null) ?? null;
    const floorName = u === null ? null : u.target === 'uws-floor' ? 'uWS floor' : 'coalescing floor';
    const row = `${h.preset} ${transportOf(h)} ${h.label}`;
    const add = (measure, hv, nv, target, met, ratio = hv / nv, uv = null) => {
      const uRatio = uv === null || ratio === null ? null : uv / nv;
      out.push([row, measure, hv, nv, ratio, target, met(ratio, hv), uRatio, uRatio === null ? null : met(uRatio, uv), uRatio === null ? null : floorName, null]);
    };
    if (h.preset === 'idle') {
      add('RSS/conn (B)', h.rssPerConnBytes, n.rssPerConnBytes, '≤ 0.25×', (x) => x <= 0.25);
    } else if (h.preset === 'churn') {
      add('CPU µs/cycle', h.serverCpuUsPerCycle, n.serverCpuUsPerCycle, '≤ 1×', (x) => x <= 1, undefined, u?.serverCpuUsPerCycle ?? null);
    } else if (h.deliveries !== undefined) {
      const hot = h.preset === 'hot';
      add('deliveries/CPU-s', h.deliveriesPerCpuS, n.deliveriesPerCpuS, hot ? '≥ 3×' : '≥ 1×', (x) => x >= (hot ? 3 : 1), undefined, u?.deliveriesPerCpuS ?? null);
      if (hot) add('msgs/write', h.msgsPerWrite, n.msgsPerWrite, 'Herald ≥ 8', (_x, hv) => hv >= 8, null);
      for (const [t, x] of Object.entries(h.perTransport ?? {})) {
        const y = n.perTransport?.[t];
        if (!y) continue;
        const l = x.latencyMs;
        const m = y.latencyMs;
        const f = u?.perTransport?.[t]?.latencyMs ?? null;
        out.push([row, `p99 ms${Object.keys(h.perTransport).length > 1 ? ` (${t})` : ''} · p99.9 / max`, `${fmt(l.p99)} · ${fmt(l.p999)} / ${fmt(l.max)}`, `${fmt(m.p99)} · ${fmt(m.p999)} / ${fmt(m.max)}`, l.p99 / m.p99, '≤ 1×', l.p99 <= m.p99,
          f === null ? null : f.p99 / m.p99, f === null ? null : f.p99 <= m.p99, f === null ? null : floorName, machineShare(h, cpus)]);
      }
    }
  }
  return out;
}

export function scorecardMarkdown(results, cpus = 2) {
  const rows = scorecardRows(results, cpus);
  if (rows.length === 0) return [];
  const met = rows.filter((r) => r[6]).length;
  const bound = rows.filter((r) => !r[6] && r[8] === false).length;
  const saturated = (r) => !r[6] && r[10] != null && r[10] >= SATURATED_SHARE;
  const rounds = Math.max(...rows.map((r) => r[11].length));
  const L = ['## Scorecard against Nchan (issue 15 targets)', '',
    `${met} of ${rows.length} met. Ratios are Herald ÷ Nchan within this run. "Floor" is the same ratio for a server`,
    'with no gateway logic: bench/lib/uws-floor-server.mjs on the same uWebSockets.js, and for the hot rows the',
    'coalescing floor (floor-server.mjs on raw sockets, flushing every 10 ms). Where the floor misses the target',
    `too (${bound} of the rows not met), no such server met it in this run: for the uWS floor, no JavaScript on uWS.`,
    `A p99 not met while the server and the load generator together used ≥ ${SATURATED_SHARE * 100}% of the ${cpus} cores says so`,
    `(${rows.filter(saturated).length} here): the clients then wait for a core as much as for the server, and the tail is the scheduler's.`, '',
    ...(rounds > 1 ? [`Every row ran in ${rounds} rounds, Herald and Nchan side by side in each, the targets' order reversed every other round.`,
      'Each figure shows its median round (Herald, Nchan and ratio from that one round), so its verdict is what most rounds',
      'gave; "per round" lists every round\'s ratio in run order (msgs/write: Herald\'s value), and "floor" is the median of the',
      'floor\'s rounds, "misses too" when most of them missed.', ''] : []),
    `| row | measure | Herald | Nchan | ratio | floor | target | verdict |${rounds > 1 ? ' per round |' : ''}`,
    `|---|---|---|---|---|---|---|---|${rounds > 1 ? '---|' : ''}`];
  for (const r of rows) {
    const [row, measure, hv, nv, ratio, target, ok, uRatio, uOk, floorName, share, each] = r;
    const why = [uOk === false ? `${floorName} misses too` : '', saturated(r) ? `machine ${Math.round(share * 100)}% busy` : ''].filter(Boolean).join('; ');
    const verdict = ok ? 'met' : why ? `**not met** (${why})` : '**not met**';
    const perRound = rounds > 1 ? ` ${each.map((x) => fmt(x)).join(' / ')} |` : '';
    L.push(`| ${row} | ${measure} | ${typeof hv === 'number' ? fmt(hv) : hv} | ${typeof nv === 'number' ? fmt(nv) : nv} | ${ratio === null ? '' : `${fmt(ratio)}×`} | ${uRatio === null ? '' : `${fmt(uRatio)}×`} | ${target} | ${verdict} |${perRound}`);
  }
  L.push('');
  return L;
}
