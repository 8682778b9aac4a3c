/**
 * The committed compare runs over time, as one SVG grid: a row per scorecard figure
 * (scorecard.mjs), a column per run (oldest left), each cell the Herald ÷ Nchan ratio (a run
 * of several rounds: its median round's), green when it meets its target and red when not, so
 * a regression shows at a glance.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scorecardRows } from './scorecard.mjs';

/** Every `*.json` run in `dir` that has Nchan beside Herald, oldest first. */
export function compareRuns(dir) {
  const runs = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    try {
      const run = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (run.meta?.targets?.includes('nchan') && Array.isArray(run.results)) runs.push({ name: f.replace(/\.json$/, ''), ...run });
    } catch {
      // Not a bench result: skip it.
    }
  }
  return runs.sort((a, b) => String(a.meta.date).localeCompare(String(b.meta.date)));
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** A ratio as the history and the ledger show it: two decimals below 10, none above. */
export const fmt = (v) => (v === null || v === undefined || Number.isNaN(v) ? '' : v >= 10 ? v.toFixed(0) : v.toFixed(2));
/** A scorecard figure's name across runs: its row and measure, without the p99.9 / max columns' note. */
export const figureName = (row, measure) => `${row} · ${measure.replace(/ · p99\.9 \/ max$/, '')}`;

export function historySvg(runs) {
  const cells = new Map(); // figure → Map(run index → [ratio, met])
  const order = [];
  runs.forEach((run, i) => {
    for (const [row, measure, , , ratio, target, met] of scorecardRows(run.results, run.meta?.cpus)) {
      const figure = `${figureName(row, measure)} (${target})`;
      if (!cells.has(figure)) { cells.set(figure, new Map()); order.push(figure); }
      cells.get(figure).set(i, [ratio, met]);
    }
  });
  const left = 470; const colW = 96; const rowH = 18; const top = 70;
  const W = left + Math.max(1, runs.length) * colW + 20; const H = top + order.length * rowH + 30;
  const s = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="22" font-size="15" font-weight="bold">Herald ÷ Nchan over the committed compare runs</text>`,
    '<text x="10" y="40" fill="#555">each cell: the ratio in that run; green = target met, red = not met, blank = not measured</text>'];
  // A run of several rounds shows each figure's median round (scorecard.mjs): "×3" says so.
  runs.forEach((run, i) => s.push(`<text x="${left + i * colW + colW / 2}" y="${top - 10}" text-anchor="middle" font-weight="bold">${esc(run.name.replace(/-compare$/, ''))}${run.meta?.rounds > 1 ? ` ×${run.meta.rounds}` : ''}</text>`));
  order.forEach((figure, r) => {
    const y = top + r * rowH;
    s.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(figure)}</text>`);
    runs.forEach((_run, i) => {
      const cell = cells.get(figure).get(i);
      if (!cell) return;
      const [ratio, met] = cell;
      s.push(`<rect x="${left + i * colW + 2}" y="${y + 1}" width="${colW - 4}" height="${rowH - 2}" fill="${met ? '#cdebc5' : '#f4c7c3'}"/>`);
      s.push(`<text x="${left + i * colW + colW / 2}" y="${y + 13}" text-anchor="middle">${ratio === null ? (met ? 'met' : 'not met') : `${fmt(ratio)}×`}</text>`);
    });
  });
  s.push('</svg>');
  return s.join('\n');
}
