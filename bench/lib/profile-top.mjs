#!/usr/bin/env node
/**
 * `node bench/lib/profile-top.mjs FILE.cpuprofile [N]`: the functions with the most self time
 * and the most total (inclusive) time in a V8 CPU profile, as text, so a profile taken with
 * HERALD_BENCH_NODE_ARGS="--cpu-prof ..." can be read without DevTools.
 */
import { readFileSync } from 'node:fs';

const [file, nArg, fromArg, toArg] = process.argv.slice(2);
const n = Number(nArg ?? 30);
// Optional window in ms from the profile's start (print the timeline first to find the measured window).
const from = Number(fromArg ?? 0) * 1e6; const to = toArg === undefined ? Infinity : Number(toArg) * 1e6; // seconds → µs
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const x of prof.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const dt = new Map();
const idleId = prof.nodes.find((x) => x.callFrame.functionName === '(idle)')?.id;
const timeline = new Map();
let clock = 0;
for (let i = 0; i < prof.samples.length; i++) {
  clock += prof.timeDeltas[i] ?? 0;
  const slot = Math.floor(clock / 250000);
  if (prof.samples[i] !== idleId) timeline.set(slot, (timeline.get(slot) ?? 0) + (prof.timeDeltas[i] ?? 0));
  if (clock < from || clock > to) continue;
  dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
console.log('busy per 250 ms (ms from start: busy %):', [...timeline].map(([k, v]) => `${k * 250}:${Math.round(v / 2500)}`).join(' '));
const name = (x) => `${x.callFrame.functionName || '(anon)'} ${x.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '')}:${x.callFrame.lineNumber + 1}`;
const self = new Map(); const total = new Map();
let all = 0;
for (const [id, t] of dt) {
  all += t;
  const x = byId.get(id);
  self.set(name(x), (self.get(name(x)) ?? 0) + t);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = name(byId.get(cur));
    if (!seen.has(k)) { seen.add(k); total.set(k, (total.get(k) ?? 0) + t); }
  }
}
const show = (title, m) => {
  console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)`);
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${(100 * t / all).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(1).padStart(8)} ms  ${k}`);
};
show('self', self);
show('total', total);
