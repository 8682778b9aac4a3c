import t from 'tap';
import { machineShare, scorecardMarkdown, scorecardRows } from '../../bench/lib/scorecard.mjs';

// The issue-15 scorecard (bench/README.md, "Columns"): each Herald figure against Nchan's, and
// beside it a floor's, so a row that no gateway-free server meets either says so.

const lat = (p99: number) => ({ latencyMs: { p99, p999: p99 * 1.5, max: p99 * 2 } });
const row = (preset: string, label: string, target: string, transport: string, over: object) => ({
  preset, label, target, spec: { mix: { [transport]: 1 } }, deliveries: 1000, ...over,
});

const results = [
  row('broadcast', '1 ch × 1000 subs @ 20/s', 'herald', 'poll', { deliveriesPerCpuS: 60_000, perTransport: { poll: lat(20) } }),
  row('broadcast', '1 ch × 1000 subs @ 20/s', 'nchan', 'poll', { deliveriesPerCpuS: 50_000, perTransport: { poll: lat(25) } }),
  row('broadcast', '1 ch × 1000 subs @ 20/s', 'uws-floor', 'poll', { deliveriesPerCpuS: 70_000, perTransport: { poll: lat(30) } }),
  row('broadcast', '1 ch × 1000 subs @ 20/s', 'floor', 'poll', { deliveriesPerCpuS: 90_000, perTransport: { poll: lat(10) } }),
  row('hot', '1 ch × 1000 subs @ 1000/s', 'herald', 'poll', { deliveriesPerCpuS: 1_500_000, msgsPerWrite: 18, perTransport: { poll: lat(90) } }),
  row('hot', '1 ch × 1000 subs @ 1000/s', 'nchan', 'poll', { deliveriesPerCpuS: 1_000_000, msgsPerWrite: 12, perTransport: { poll: lat(200) } }),
  row('hot', '1 ch × 1000 subs @ 1000/s', 'floor-batch', 'poll', { deliveriesPerCpuS: 1_200_000, msgsPerWrite: 20, perTransport: { poll: lat(80) } }),
  { preset: 'churn', label: '10000 connect→live→close', target: 'herald', spec: { mix: { ws: 1 } }, serverCpuUsPerCycle: 44 },
  { preset: 'churn', label: '10000 connect→live→close', target: 'nchan', spec: { mix: { ws: 1 } }, serverCpuUsPerCycle: 40 },
  { preset: 'churn', label: '10000 connect→live→close', target: 'uws-floor', spec: { mix: { ws: 1 } }, serverCpuUsPerCycle: 41 },
  // No Nchan peer: not on the scorecard.
  row('cluster', '3 shards', 'herald', 'sse', { deliveriesPerCpuS: 1, perTransport: { sse: lat(1) } }),
];

t.test('each figure against Nchan, with the uWS floor beside it, or for hot the coalescing floor', async (t) => {
  const rows = scorecardRows(results);
  const find = (r: string, m: string) => rows.find((x) => x[0] === r && x[1].startsWith(m))!;
  const bcast = find('broadcast poll 1 ch × 1000 subs @ 20/s', 'deliveries');
  t.same(bcast.slice(4), [1.2, '≥ 1×', true, 1.4, true, 'uWS floor', null, [1.2]], 'the uWS floor, not the raw-socket one');
  const bp99 = find('broadcast poll 1 ch × 1000 subs @ 20/s', 'p99');
  t.same(bp99.slice(4), [0.8, '≤ 1×', true, 1.2, false, 'uWS floor', null, [0.8]], 'no CPU figures in this row: no machine share');
  const hot = find('hot poll 1 ch × 1000 subs @ 1000/s', 'deliveries');
  t.same(hot.slice(4), [1.5, '≥ 3×', false, 1.2, false, 'coalescing floor', null, [1.5]], 'hot: the coalescing floor, which misses 3× too');
  const writes = find('hot poll 1 ch × 1000 subs @ 1000/s', 'msgs/write');
  t.same(writes.slice(4, 9), [null, 'Herald ≥ 8', true, null, null], 'msgs/write is Herald\'s own figure');
  const churn = find('churn ws 10000 connect→live→close', 'CPU');
  t.same(churn.slice(4), [1.1, '≤ 1×', false, 1.025, false, 'uWS floor', null, [1.1]]);
  t.notOk(rows.some((x) => x[0].startsWith('cluster')), 'a row without an Nchan peer is left out');
});

t.test('the Markdown counts what is met and names the floor that misses too', async (t) => {
  const md = scorecardMarkdown(results).join('\n');
  t.match(md, /4 of 6 met\./);
  t.match(md, /\(2 of the rows not met\)/);
  t.match(md, /\| hot poll 1 ch × 1000 subs @ 1000\/s \| deliveries\/CPU-s \| 1,500,000 \| 1,000,000 \| 1\.5× \| 1\.2× \| ≥ 3× \| \*\*not met\*\* \(coalescing floor misses too\) \|/);
  t.match(md, /\| churn ws 10000 connect→live→close \| CPU µs\/cycle \| 44 \| 40 \| 1\.1× \| 1\.02× \| ≤ 1× \| \*\*not met\*\* \(uWS floor misses too\) \|/);
  t.same(scorecardMarkdown([]), [], 'nothing to compare: no section');
});

t.test('a p99 not met while server and load generator kept both cores busy says so; a met one, or a quiet machine, does not', async (t) => {
  const busy = { wallS: 6, serverCpuS: 4.6, loadgenCpuS: 6.8 }; // 11.4 of 12 CPU-s: 95%
  const quiet = { wallS: 6, serverCpuS: 4.4, loadgenCpuS: 4.7 }; // 76%
  const pair = (label: string, herald: object, heraldP99: number) => [
    row('broadcast', label, 'herald', 'poll', { deliveriesPerCpuS: 60_000, perTransport: { poll: lat(heraldP99) }, ...herald }),
    row('broadcast', label, 'nchan', 'poll', { deliveriesPerCpuS: 50_000, perTransport: { poll: lat(300) }, ...quiet }),
  ];
  const runs = [...pair('busy, lost', busy, 450), ...pair('busy, won', busy, 250), ...pair('quiet, lost', quiet, 450),
    ...pair('no CPU figures', {}, 450)];
  const rows = scorecardRows(runs);
  const share = (label: string) => rows.find((x) => x[0].endsWith(label) && x[1].startsWith('p99'))![10];
  t.equal(Math.round(share('busy, lost')! * 100), 95);
  t.equal(Math.round(share('quiet, lost')! * 100), 76);
  t.equal(share('no CPU figures'), null, 'no window or CPU figures: no share');
  t.equal(machineShare({ ...busy, wallS: 0 }, 2), null, 'no window: no share');
  t.ok(Math.abs(machineShare(busy, 4)! - 11.4 / 24) < 1e-9, 'the cores are the run\'s');
  const md = scorecardMarkdown(runs).join('\n');
  t.match(md, /\| broadcast poll busy, lost \| p99 ms · p99\.9 \/ max \| 450 · 675 \/ 900 \| 300 · 450 \/ 600 \| 1\.5× \|  \| ≤ 1× \| \*\*not met\*\* \(machine 95% busy\) \|/);
  t.match(md, /\| broadcast poll busy, won \| p99 [^\n]* \| met \|/, 'met: nothing to explain');
  t.match(md, /\| broadcast poll quiet, lost \| p99 [^\n]* \| \*\*not met\*\* \|/, 'a quiet machine: the tail is the server\'s');
  t.match(md, /used ≥ 90% of the 2 cores says so\n\(1 here\)/);
});

t.test('several rounds: each figure is its median round, the floor the median of its rounds, every round listed', async (t) => {
  const label = '1 ch × 1000 subs @ 20/s';
  // Round by round: Herald ÷ Nchan 0.9, 1.2, 1.05; the floor 0.95, 1.1, 0.9 (met in one round of three).
  const round = (k: number, herald: number, floor: number, p99: number) => [
    row('broadcast', label, 'herald', 'poll', { deliveriesPerCpuS: herald, perTransport: { poll: lat(p99) }, round: k }),
    row('broadcast', label, 'nchan', 'poll', { deliveriesPerCpuS: 100, perTransport: { poll: lat(20) }, round: k }),
    row('broadcast', label, 'uws-floor', 'poll', { deliveriesPerCpuS: floor, perTransport: { poll: lat(19) }, round: k }),
  ];
  const hot = (k: number, writes: number) => [
    row('hot', '1 ch × 1000 subs @ 1000/s', 'herald', 'ws', { deliveriesPerCpuS: 300, msgsPerWrite: writes, perTransport: { ws: lat(1) }, round: k }),
    row('hot', '1 ch × 1000 subs @ 1000/s', 'nchan', 'ws', { deliveriesPerCpuS: 100, msgsPerWrite: 2, perTransport: { ws: lat(9) }, round: k }),
  ];
  const runs = [...round(0, 90, 95, 24), ...round(1, 120, 110, 18), ...round(2, 105, 90, 21), ...hot(0, 9), ...hot(1, 7), ...hot(2, 7.5)];
  const rows = scorecardRows(runs);
  const find = (r: string, m: string) => rows.find((x) => x[0] === r && x[1].startsWith(m))!;
  t.equal(rows.length, 5, 'one entry per figure, not per round');
  const cpu = find(`broadcast poll ${label}`, 'deliveries');
  t.same(cpu.slice(2, 10), [105, 100, 1.05, '≥ 1×', true, 0.95, false, 'uWS floor'], 'the median round\'s values; the floor missed in two rounds of three');
  t.same(cpu[11], [0.9, 1.2, 1.05], 'every round, in run order');
  const p99 = find(`broadcast poll ${label}`, 'p99');
  t.same([p99[4], p99[6], p99[11]], [1.05, false, [1.2, 0.9, 1.05]], 'p99: the median ratio 1.05 is not met, as in two rounds of three');
  const writes = find('hot ws 1 ch × 1000 subs @ 1000/s', 'msgs/write');
  t.same([writes[2], writes[6], writes[11]], [7.5, false, [9, 7, 7.5]], 'msgs/write: the median of Herald\'s own values');
  const md = scorecardMarkdown(runs).join('\n');
  t.match(md, /Every row ran in 3 rounds/);
  t.match(md, /\| verdict \| per round \|/);
  t.match(md, /\| broadcast poll 1 ch × 1000 subs @ 20\/s \| deliveries\/CPU-s \| 105 \| 100 \| 1\.05× \| 0\.95× \| ≥ 1× \| met \| 0\.9 \/ 1\.2 \/ 1\.05 \|/);
  t.notMatch(scorecardMarkdown(results).join('\n'), /per round/, 'a run of one round keeps its columns');
});
