import t from 'tap';
import { isLedgerRun, kindOf, ledgerMarkdown, ledgerRows } from '../../bench/lib/ledger.mjs';

// The issue-15 ledger (bench/results/ledger.md): each scorecard figure across runs of rounds,
// and whether a figure Herald misses is one the floor misses too or Herald's own.

const lat = (p99: number) => ({ latencyMs: { p99, p999: p99, max: p99 } });
/** One run's results: per figure, Herald's and the uWS floor's deliveries/CPU-s and p99 against Nchan's 100 and 10 ms. */
const run = (name: string, figures: Record<string, [herald: number, floor: number | null, heraldP99?: number]>, meta: object = { rounds: 3 }) => ({
  name,
  meta,
  results: Object.entries(figures).flatMap(([label, [herald, floor, p99 = 5]]) => {
    const r = (target: string, cpu: number, ms: number) => ({ preset: 'broadcast', label, target, spec: { mix: { ws: 1 } }, deliveries: 1, deliveriesPerCpuS: cpu, perTransport: { ws: lat(ms) } });
    return [r('herald', herald, p99), r('nchan', 100, 10), ...(floor === null ? [] : [r('uws-floor', floor, 5)])];
  }),
});

const runs = [
  run('a-compare', { steady: [120, 130], flaky: [95, 130], bound: [90, 95], own: [90, 120], bare: [90, null] }),
  run('b-compare', { steady: [110, 130], flaky: [105, 130], bound: [95, 110], own: [80, 120], bare: [95, null] }),
  run('c-compare', { steady: [125, 130], flaky: [101, 130], bound: [101, 90], own: [99, 90, 11], bare: [120, null] }),
];

t.test('what a figure is follows from how often Herald and the floor met it', async (t) => {
  t.equal(kindOf(3, 3, 0, 3), 'met', 'every run: met, whatever the floor did');
  t.equal(kindOf(2, 3, 0, 0), 'mostly met');
  t.equal(kindOf(1, 3, 2, 3), "Herald's own", 'the floor met it in most runs');
  t.equal(kindOf(1, 3, 1, 3), 'floor misses too');
  t.equal(kindOf(0, 3, 0, 0), 'no floor', 'missed with nothing beside it to say whether it can be met');
  t.equal(kindOf(2, 4, 0, 4), 'split', 'met in half the runs: the day decided, whatever the floor did');
  t.equal(kindOf(1, 4, 2, 4), 'floor misses too', 'a tie is not more than half: the floor did not meet it in most');
  t.equal(kindOf(1, 4, 3, 4), "Herald's own");
});

t.test('one entry per figure across runs, the ones to act on first', async (t) => {
  const rows = ledgerRows(runs);
  const find = (label: string, measure: string) => rows.find((r) => r.figure === `broadcast ws ${label} · ${measure}`)!;
  t.equal(rows.length, 10, 'five rows × (CPU, p99), not per run');
  t.same(rows.slice(0, 2).map((r) => r.kind), ["Herald's own", 'no floor'], 'what the team must act on comes first');
  t.equal(rows.at(-1)!.kind, 'met');
  const own = find('own', 'deliveries/CPU-s');
  t.same([own.heraldMet, own.runs, own.floorMet, own.floorRuns, own.kind], [0, 3, 2, 3, "Herald's own"]);
  t.same(own.cells.map((c) => [c!.ratio, c!.met, c!.floorRatio, c!.floorMet]), [[0.9, false, 1.2, true], [0.8, false, 1.2, true], [0.99, false, 0.9, false]]);
  t.equal(find('bound', 'deliveries/CPU-s').kind, 'floor misses too', 'the floor met it once of three');
  t.equal(find('flaky', 'deliveries/CPU-s').kind, 'mostly met');
  t.equal(find('steady', 'deliveries/CPU-s').kind, 'met');
  t.equal(find('bare', 'deliveries/CPU-s').kind, 'no floor');
  const p99 = find('own', 'p99 ms');
  t.same([p99.heraldMet, p99.kind], [2, 'mostly met'], 'p99 is a figure of its own: 5 ms, 5, then 11 against Nchan\'s 10');
});

t.test('a run missing a figure leaves its cell blank and counts only the runs that have it', async (t) => {
  const rows = ledgerRows([...runs, run('d-compare', { steady: [140, 130] })]);
  const own = rows.find((r) => r.figure === 'broadcast ws own · deliveries/CPU-s')!;
  t.same([own.cells.length, own.cells[3], own.runs], [4, null, 3]);
  const md = ledgerMarkdown([...runs, run('d-compare', { steady: [140, 130] })]);
  t.match(md, /\| broadcast ws own · deliveries\/CPU-s \| ≥ 1× \| \*\*0\.90×\*\* \(1\.20×\) \| \*\*0\.80×\*\* \(1\.20×\) \| \*\*0\.99×\*\* \(0\.90× ✗\) \|  \| 0 of 3 \| 2 of 3 \| Herald's own \|/);
});

t.test('the Markdown counts each kind and names the runs', async (t) => {
  const md = ledgerMarkdown(runs);
  t.match(md, /^# Issue 15 ledger/);
  t.match(md, /3 runs \(a-compare, b-compare, c-compare\), 10 figures: 5 met in every run,\n2 in most, 0 in half, 1 missed in most where the floor misses too,\n1 missed in most where the floor meets it \(Herald's own\), 1 missed in most with no floor beside it\./);
  t.match(md, /\| figure \| target \| a \| b \| c \| Herald met \| floor met \| what it is \|/);
  t.match(md, /\| broadcast ws bare · deliveries\/CPU-s \| ≥ 1× \| \*\*0\.90×\*\* \| \*\*0\.95×\*\* \| 1\.20× \| 1 of 3 \|  \| no floor \|/);
  t.equal(ledgerMarkdown([]), '', 'no runs: nothing');
});

t.test('only full runs of three rounds or more count', async (t) => {
  t.ok(isLedgerRun({ meta: { rounds: 3 } }));
  t.ok(isLedgerRun({ meta: { rounds: 5, quick: false } }));
  t.notOk(isLedgerRun({ meta: { rounds: 1 } }), 'one round: the day\'s noise decides');
  t.notOk(isLedgerRun({ meta: { rounds: 3, quick: true } }), 'a quick run\'s rows are smaller');
  t.notOk(isLedgerRun({}));
});
