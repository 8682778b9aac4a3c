#!/usr/bin/env node
/**
 * `npm run bench:hub [-- --messages N]`: what history costs the hub per incoming message.
 * No sockets and no Redis: Herald's own Hub and MemoryHistory (dist/, so `npm run build`
 * first) with 1,000 channels × 1 subscriber (the one-per-channel preset's shape), fed
 * messages in bursts of 500 per event-loop turn. Each row runs in a child process of its own
 * (a fresh heap), steady state: the first 200,000 messages fill history and warm up, then
 * N (default 400,000) are measured.
 *
 * Columns: CPU µs per message (process user + system: the JIT and GC threads count), the
 * main thread's GC pauses from `perf_hooks` (total, count, longest), and the heap after.
 * `history 0` rows keep nothing: the difference is what keeping 100 messages per channel
 * costs each message. Writes bench/results/<date>-hub-retention.{json,md} (or --out/--name).
 */
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHANNELS = 1000;
const WARM = 200_000;
const BURST = 500;

if (process.argv[2] === '--row') await row(JSON.parse(process.argv[3]));
else await main(process.argv.slice(2));

async function main(argv) {
  const opt = { messages: 400_000, out: join(ROOT, 'bench', 'results'), name: `${new Date().toISOString().slice(0, 10)}-hub-retention` };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--messages') opt.messages = Number(argv[++i]);
    else if (argv[i] === '--out') opt.out = argv[++i];
    else if (argv[i] === '--name') opt.name = argv[++i];
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!existsSync(join(ROOT, 'dist', 'hub', 'hub.js'))) throw new Error('dist/ is missing: run npm run build');
  const rows = [];
  // Alternating order, so a noisy spell on this shared machine hits both histories alike.
  for (const transport of ['ws', 'sse', 'poll']) {
    for (const history of [100, 0]) {
      const r = await child({ transport, history, messages: opt.messages });
      rows.push(r);
      console.log(`${transport.padEnd(4)} history ${String(history).padStart(3)}  ${r.cpuUsPerMessage.toFixed(2)} µs/msg  GC ${r.gcMs} ms in ${r.gcCount} (max ${r.gcMaxMs} ms)  heap ${r.heapMB} MB`);
    }
  }
  const md = markdownOf(opt, rows);
  mkdirSync(opt.out, { recursive: true });
  writeFileSync(join(opt.out, `${opt.name}.json`), JSON.stringify({ node: process.version, channels: CHANNELS, messages: opt.messages, rows }, null, 2) + '\n');
  writeFileSync(join(opt.out, `${opt.name}.md`), md);
  console.log('\n' + md + `\nresults: ${join(opt.out, opt.name)}.{json,md}`);
}

function child(spec) {
  return new Promise((resolve, reject) => {
    const p = fork(fileURLToPath(import.meta.url), ['--row', JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    p.once('message', resolve);
    p.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`row ${JSON.stringify(spec)} exited with ${code}`))));
  });
}

function markdownOf(opt, rows) {
  const lines = [
    `# Hub cost per incoming message, with and without history (${new Date().toISOString().slice(0, 10)})`,
    '',
    `${CHANNELS} channels × 1 subscriber, ${opt.messages.toLocaleString('en')} messages measured after ${WARM.toLocaleString('en')} (bursts of ${BURST} per turn), Node ${process.version}. Herald's Hub and MemoryHistory, no sockets.`,
    '',
    '| transport | history per channel | CPU µs/message | Δ vs history 0 | GC pauses (ms) | count | longest (ms) | heap MB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const base = rows.find((x) => x.transport === r.transport && x.history === 0);
    const delta = r.history === 0 || base === undefined ? '' : `+${(r.cpuUsPerMessage - base.cpuUsPerMessage).toFixed(2)}`;
    lines.push(`| ${r.transport} | ${r.history} | ${r.cpuUsPerMessage.toFixed(2)} | ${delta} | ${r.gcMs} | ${r.gcCount} | ${r.gcMaxMs} | ${r.heapMB} |`);
  }
  return lines.join('\n') + '\n';
}

/** One row, in its own process: the hub as the daemon builds it, minus the broker and sockets. */
async function row({ transport, history, messages }) {
  const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
  const { Hub } = await import(dist('hub/hub.js'));
  const { MemoryHistory } = await import(dist('history/memory.js'));
  const { createLogger } = await import(dist('log.js'));
  const { makeRoute } = await import(dist('rules/router.js'));
  const rule = { pattern: 'bench:{n}', redis: 'bench:{n}', payload: 'text', history: { size: history, maxAgeMs: 600_000, store: 'memory' }, lingerMs: 1000, access: { kind: 'public' }, publishScopes: [] };
  const scheduler = { setTimeout, clearTimeout, defer: (fn) => setImmediate(fn), clock: () => performance.now() };
  const broker = { status: 'ready', async start() {}, subscribe() {}, unsubscribe() {}, async publish() { return 0; }, async close() {} };
  const hub = new Hub({
    broker, history: new MemoryHistory(), scheduler, epoch: 'bench', tag: 'bnch', clock: () => performance.now(), wallClock: () => Date.now(),
    log: createLogger('silent'), stats: { messageReceived() {}, dropped() {}, observeLatency() {} },
    maxMessageBytes: 1 << 20, replayMax: 1000, latencySampleEvery: 1000, durable: null,
  });
  // What each transport reads of a delivered message (the poll answer reads it in a later pass).
  let bytes = 0;
  const read = { ws: (m) => m.ws.length, sse: (m) => m.sse.length, poll: (m) => m.poll.length }[transport];
  const sub = { transport, deliver(m) { bytes += read(m); }, reset() {} };
  const names = [];
  for (let c = 0; c < CHANNELS; c++) {
    const channel = `bench:c${c}`;
    names.push(channel);
    hub.subscribe(sub, makeRoute(channel, channel, rule), null, () => {});
  }
  hub.onLive(names);
  let seq = 0;
  const publish = async (n) => {
    for (let done = 0; done < n; done += BURST) {
      for (let i = 0; i < BURST; i++) {
        seq++;
        hub.onMessage(names[seq % CHANNELS], Buffer.from(`@${seq},${Date.now()};`.padEnd(64, 'x')));
      }
      await new Promise((r) => setImmediate(r));
    }
  };
  await publish(WARM);
  const pauses = [];
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) pauses.push(e.duration); });
  observer.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  await publish(messages);
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 50)); // the observer reports asynchronously
  observer.disconnect();
  process.send({
    transport, history, messages, cpuUsPerMessage: (cpu.user + cpu.system) / messages,
    gcMs: Math.round(pauses.reduce((a, b) => a + b, 0)), gcCount: pauses.length, gcMaxMs: +Math.max(0, ...pauses).toFixed(1),
    heapMB: Math.round(process.memoryUsage().heapUsed / 1e6), checksum: bytes,
  }, () => process.exit(0));
}
