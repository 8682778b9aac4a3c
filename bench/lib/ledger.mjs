/**
 * Every scorecard figure (scorecard.mjs) across the committed compare runs of several rounds:
 * in how many runs Herald met its target, in how many the floor did, and what that makes the
 * figure. One run of three rounds still moves with the machine's speed on the day (bench/README.md,
 * "Rounds"): two runs on the same code have disagreed on up to 20 of 55 verdicts. A verdict that
 * holds across runs is one to act on; this table is where to read it.
 */
import { figureName, fmt } from './history.mjs';
import { scorecardRows } from './scorecard.mjs';

/** Runs that weigh each figure by its median round: full size, three rounds or more. */
export const isLedgerRun = (run) => run.meta?.rounds >= 3 && run.meta?.quick !== true;

/**
 * What a figure is across runs:
 * - `met`: Herald met it in every run;
 * - `mostly met`: in more than half of them;
 * - `split`: in exactly half: the day decided;
 * - `floor misses too`: Herald missed it in more than half, and the floor did not meet it in more
 *   than half of the runs that measured one: no gateway-free server met it here either;
 * - `Herald's own`: Herald missed it in more than half while the floor met it in more than half:
 *   the gap is Herald's code;
 * - `no floor`: Herald missed it in more than half, and no floor ran beside it.
 */
export function kindOf(heraldMet, runs, floorMet, floorRuns) {
  if (heraldMet === runs) return 'met';
  if (heraldMet * 2 > runs) return 'mostly met';
  if (heraldMet * 2 === runs) return 'split';
  if (floorRuns === 0) return 'no floor';
  return floorMet * 2 > floorRuns ? "Herald's own" : 'floor misses too';
}

const KIND_ORDER = ["Herald's own", 'no floor', 'floor misses too', 'split', 'mostly met', 'met'];

/**
 * One entry per figure, in scorecard order within each kind, kinds ordered from what the team
 * must act on to what holds: { figure, target, kind, heraldMet, floorMet, floorRuns, cells },
 * a cell per run ({ ratio, met, floorRatio, floorMet }, or null where the run lacks the figure).
 */
export function ledgerRows(runs) {
  const figures = new Map();
  runs.forEach((run, i) => {
    for (const [row, measure, , , ratio, target, met, floorRatio, floorMet] of scorecardRows(run.results, run.meta?.cpus)) {
      const figure = figureName(row, measure);
      if (!figures.has(figure)) figures.set(figure, { figure, target, cells: runs.map(() => null) });
      figures.get(figure).cells[i] = { ratio, met, floorRatio, floorMet };
    }
  });
  const out = [...figures.values()].map((f) => {
    const seen = f.cells.filter((c) => c !== null);
    const floors = seen.filter((c) => c.floorMet !== null);
    const heraldMet = seen.filter((c) => c.met).length;
    const floorMet = floors.filter((c) => c.floorMet).length;
    return { ...f, heraldMet, runs: seen.length, floorMet, floorRuns: floors.length, kind: kindOf(heraldMet, seen.length, floorMet, floors.length) };
  });
  return out.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
}

const cellText = (c) => {
  if (c === null) return '';
  const herald = c.ratio === null ? (c.met ? 'met' : '**not met**') : c.met ? `${fmt(c.ratio)}×` : `**${fmt(c.ratio)}×**`;
  return c.floorRatio === null ? herald : `${herald} (${fmt(c.floorRatio)}×${c.floorMet ? '' : ' ✗'})`;
};

export function ledgerMarkdown(runs) {
  const rows = ledgerRows(runs);
  if (rows.length === 0) return '';
  const count = (kind) => rows.filter((r) => r.kind === kind).length;
  const L = ['# Issue 15 ledger: every scorecard figure across the compare runs of three rounds', '',
    '<!-- written by bench/run.mjs after every run from the runs in this folder (bench/lib/ledger.mjs); do not edit -->', '',
    `${runs.length} runs (${runs.map((r) => r.name).join(', ')}), ${rows.length} figures: ${count('met')} met in every run,`,
    `${count('mostly met')} in most, ${count('split')} in half, ${count('floor misses too')} missed in most where the floor misses too,`,
    `${count("Herald's own")} missed in most where the floor meets it (Herald's own)${count('no floor') > 0 ? `, ${count('no floor')} missed in most with no floor beside it` : ''}.`, '',
    'Each cell is Herald ÷ Nchan in that run\'s median round, **bold** where it misses its target; in brackets the',
    'floor\'s ratio (the uWS floor; for hot, the coalescing floor), ✗ where the floor misses the target too. A run can',
    'judge a figure only as well as the machine was steady that day: read the row, not one cell.', '',
    `| figure | target | ${runs.map((r) => r.name.replace(/-compare/, '')).join(' | ')} | Herald met | floor met | what it is |`,
    `|---|---|${runs.map(() => '---|').join('')}---|---|---|`];
  for (const r of rows) {
    L.push(`| ${r.figure} | ${r.target} | ${r.cells.map(cellText).join(' | ')} | ${r.heraldMet} of ${r.runs} | ${r.floorRuns === 0 ? '' : `${r.floorMet} of ${r.floorRuns}`} | ${r.kind} |`);
  }
  L.push('');
  return L.join('\n');
}
