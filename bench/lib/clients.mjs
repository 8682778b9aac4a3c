/**
 * The parent side of the load generator: forks worker processes, spreads connections over
 * them, and merges their answers. A process keeps well under the 20,000 open-file cap.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram } from './hist.mjs';

const WORKER = fileURLToPath(new URL('./client-worker.mjs', import.meta.url));
const PER_WORKER_MAX = 6000;

export async function clientPool({ n, target, port, resume = false, minWorkers = 2, maxWorkers = 6 }) {
  const count = Math.min(maxWorkers, Math.max(minWorkers, Math.ceil(n / PER_WORKER_MAX)));
  const workers = [];
  for (let w = 0; w < count; w++) {
    const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const pending = new Map();
    let seq = 0;
    child.on('message', (m) => { const p = pending.get(m.id); pending.delete(m.id); p?.(m); });
    const call = (msg) => new Promise((resolve, reject) => {
      const id = ++seq;
      pending.set(id, resolve);
      child.send({ ...msg, id }, (e) => { if (e) reject(e); });
    });
    await call({ cmd: 'init', cfg: { host: '127.0.0.1', port, target, resume } });
    workers.push({ child, call });
  }
  const all = (msg) => Promise.all(workers.map((w) => w.call(msg)));
  return {
    pids: workers.map((w) => w.child.pid),
    /**
     * conns: [transport, channel][]; dealt round-robin so each worker gets a mix. Handshakes in
     * flight stay under a listen backlog of 511 (Node's default): overflowing it makes the
     * kernel drop the final ACK, and such a client hangs for a minute before it is noticed.
     */
    async open(conns, concurrency = 64) {
      const parts = workers.map(() => []);
      conns.forEach((c, i) => parts[i % parts.length].push(c));
      const t0 = performance.now();
      const r = await Promise.all(workers.map((w, i) => w.call({ cmd: 'open', conns: parts[i], concurrency })));
      return { ms: performance.now() - t0, failed: r.reduce((a, x) => a + x.failed, 0) };
    },
    reset: () => all({ cmd: 'reset' }),
    /** Deliveries sent in [fromUs, toUs) (nowUs clock) also go to a move histogram. */
    move: (fromUs, toUs) => all({ cmd: 'move', fromUs, toUs }),
    async count() {
      const r = await all({ cmd: 'count' });
      return { received: r.reduce((a, x) => a + x.received, 0), cycles: r.reduce((a, x) => a + x.cycles, 0) };
    },
    async churn({ cycles, concurrency, transport, channels, cursor }) {
      const per = Math.ceil(cycles / workers.length);
      const conc = Math.max(1, Math.ceil(concurrency / workers.length));
      const t0 = performance.now();
      await all({ cmd: 'churn', cycles: per, concurrency: conc, transport, channels, cursor });
      return { ms: performance.now() - t0, cycles: per * workers.length };
    },
    /** Merged per-transport results; `sent` maps channel → messages published. */
    async stats(sent) {
      const r = await all({ cmd: 'stats', sent });
      const per = {};
      const errors = {};
      let cpuUs = 0; let rssKb = 0;
      for (const x of r) {
        cpuUs += x.cpuUs; rssKb += x.rssKb;
        for (const [k, v] of Object.entries(x.errors)) errors[k] = (errors[k] ?? 0) + v;
        for (const [t, s] of Object.entries(x.per)) {
          const acc = (per[t] ??= { received: 0, dups: 0, bad: 0, cycles: 0, lost: 0, resets: 0, late: 0, hist: new Histogram() });
          acc.received += s.received; acc.dups += s.dups; acc.bad += s.bad; acc.cycles += s.cycles; acc.lost += s.lost; acc.resets += s.resets; acc.late += s.late;
          acc.hist.add(Histogram.from(s.hist));
          if (s.moveHist) (acc.moveHist ??= new Histogram()).add(Histogram.from(s.moveHist));
        }
      }
      return { per, errors, cpuUs, rssKb };
    },
    async close() {
      await Promise.all(workers.map((w) => w.call({ cmd: 'close' }).catch(() => undefined)));
      await Promise.all(workers.map((w) => (w.child.exitCode !== null ? null : new Promise((r) => w.child.once('exit', r)))));
    },
  };
}
