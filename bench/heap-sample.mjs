#!/usr/bin/env node
/**
 * What a process allocates, by function, over a few seconds: V8's sampling heap profiler
 * through the inspector, with the objects the young and old collectors freed counted too (by
 * default the profiler keeps only what is still alive, which says nothing about garbage).
 * Allocation per poll cycle or per message is what drives scavenges (issue 15), and unlike CPU
 * time it barely moves with the machine's load, so a change can be measured in one run.
 *
 *   record --port P --seconds S --out FILE   sample a process started with --inspect=127.0.0.1:P
 *   report FILE [--per N] [--top K]          bytes per second by function, or per unit at N units/s
 *
 * With the bench, over exactly one row's window (bench/README.md, on profiling a preset):
 *   HERALD_BENCH_NODE_ARGS=--inspect=127.0.0.1:9239 \
 *   HERALD_BENCH_WINDOW_HOOK='node bench/heap-sample.mjs record --port 9239 --seconds 3 --out /tmp/heap.json' \
 *   node bench/run.mjs --preset one-per-channel --transport poll --targets herald
 *   node bench/heap-sample.mjs report /tmp/heap.json --per 5000
 *
 * Sampled every 256 bytes: a figure is an estimate, within a few percent at these volumes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const SAMPLING_INTERVAL = 256;

function option(argv, name, dflt) {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
}

export async function record({ port, seconds, out }) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  if (!Array.isArray(targets) || targets.length === 0) throw new Error(`no inspector target on 127.0.0.1:${port}`);
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let id = 0;
  const pending = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    const done = pending.get(m.id);
    if (done === undefined) return;
    pending.delete(m.id);
    done(m);
  });
  const call = async (method, params = {}) => {
    const m = await new Promise((resolve) => { pending.set(++id, resolve); ws.send(JSON.stringify({ id, method, params })); });
    if (m.error) throw new Error(`${method}: ${m.error.message}`);
    return m.result;
  };
  try {
    await call('HeapProfiler.enable');
    await call('HeapProfiler.startSampling', { samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    // Sampling runs from the start's answer to the stop's arrival; building the profile after
    // the stop (hundreds of ms on a busy process) is not part of it.
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const sampled = (performance.now() - t0) / 1000;
    const { profile } = await call('HeapProfiler.stopSampling');
    writeFileSync(out, JSON.stringify({ seconds: sampled, profile }));
  } finally {
    ws.close();
  }
}

/** Bytes by function (self) and by the last four frames of each allocating stack, per second or per unit. */
export function summarize({ seconds, profile }, perSecond = 1) {
  const units = seconds * perSecond;
  const byFunction = new Map();
  const byStack = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    const here = [...stack, name];
    if (node.selfSize > 0) {
      total += node.selfSize;
      byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
      const key = here.slice(-4).reverse().join(' < ');
      byStack.set(key, (byStack.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children ?? []) walk(child, here);
  };
  walk(profile.head, []);
  const per = (entries) => [...entries].sort((a, b) => b[1] - a[1]).map(([name, bytes]) => ({ name, bytes: Math.round(bytes / units) }));
  return { total: Math.round(total / units), functions: per(byFunction), stacks: per(byStack) };
}

async function main(argv) {
  const [command, file] = argv;
  if (command === 'record') {
    const port = Number(option(argv, 'port', ''));
    const seconds = Number(option(argv, 'seconds', '3'));
    const out = option(argv, 'out', '');
    if (!port || !(seconds > 0) || !out) throw new Error('record --port P --seconds S --out FILE');
    await record({ port, seconds, out });
  } else if (command === 'report' && file) {
    const per = Number(option(argv, 'per', '0'));
    const top = Number(option(argv, 'top', '25'));
    const s = summarize(JSON.parse(readFileSync(file, 'utf8')), per > 0 ? per : 1);
    const unit = per > 0 ? `bytes per unit (${per}/s)` : 'bytes/s';
    console.log(`${s.total} ${unit} in all\n\nby function:`);
    for (const { name, bytes } of s.functions.slice(0, top)) console.log(`${String(bytes).padStart(9)}  ${name}`);
    console.log('\nby stack (innermost first):');
    for (const { name, bytes } of s.stacks.slice(0, top)) console.log(`${String(bytes).padStart(9)}  ${name}`);
  } else {
    throw new Error('usage: heap-sample.mjs record --port P --seconds S --out FILE | report FILE [--per N] [--top K]');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`heap-sample: ${err.message}\n`);
    process.exit(1);
  });
}
