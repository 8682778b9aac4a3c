/**
 * The servers under test, each started fresh for one scenario: Herald (dist/main.js), the
 * floor (floor-server.mjs) and Nchan (Debian nginx + libnginx-mod-nchan, one worker).
 * Each returns { name, port, pids() (the processes to measure), stop() }.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, httpStatus, sleep, waitForPort } from './net-util.mjs';
import { childPids } from './proc.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FLOOR = fileURLToPath(new URL('./floor-server.mjs', import.meta.url));
const UWS_FLOOR = fileURLToPath(new URL('./uws-floor-server.mjs', import.meta.url));
export const HERALD_MAIN = join(ROOT, 'dist/main.js');
export const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

/** A child's stdout: the file named by env[name], appended (a descriptor to close once spawned), or ignored. */
function stdoutFrom(name) {
  return process.env[name] ? openSync(process.env[name], 'a') : 'ignore';
}

function stopProc(proc, signal = 'SIGTERM') {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => { clearTimeout(t); resolve(); });
    proc.kill(signal);
  });
}

/** Waits for the `"msg":"listening"` JSON line on stderr; keeps the tail for error reports. */
function waitListening(proc, what, timeoutMs) {
  return new Promise((resolve, reject) => {
    let tail = '';
    const t = setTimeout(() => reject(new Error(`${what} did not log "listening" in ${timeoutMs} ms: ${tail.slice(-800)}`)), timeoutMs);
    proc.stderr.on('data', (d) => {
      tail = (tail + d).slice(-4000);
      const m = /"msg":"listening"[^\n]*/.exec(tail);
      if (m) { clearTimeout(t); resolve(Number(/"port":(\d+)/.exec(m[0])?.[1] ?? 0)); }
    });
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`${what} exited with ${code}: ${tail.slice(-800)}`)); });
  });
}

/**
 * durable: the rule keeps its history in a Redis Stream (`store: redis`; publish with FCALL herald_publish).
 * HERALD_BENCH_BATCH_DELAY (e.g. `0`) sets `defaults.batchDelay`, to measure the batch delay against none.
 */
export function heraldConfig(redis, { durable = false, batchDelay = process.env.HERALD_BENCH_BATCH_DELAY } = {}) {
  const broker = redis.cluster
    ? `{ type: cluster, cluster: { nodes: [${redis.seeds.map((s) => `"${s}"`).join(', ')}], mode: sharded } }`
    : `{ type: redis, url: ${redis.url} }`;
  return `broker: ${broker}
channels:
  - { pattern: "bench:{name}", access: public, payload: text, history: { size: ${durable ? '1000' : '100'}, maxAge: 1m${durable ? ', store: redis' : ''} } }
limits: { maxBufferedBytes: 4mb, maxSubscriptionsPerConnection: 64 }
${batchDelay === undefined ? '' : `defaults: { batchDelay: ${batchDelay} }\n`}log: { level: warn }
classes: { default: desktop, list: [ { name: desktop, lifetime: 1h, pollHold: 30s, heartbeat: 25s, idle: 10m } ] }
`;
}

export async function startHerald({ redis, workers = 1, durable = false }) {
  if (!existsSync(HERALD_MAIN)) throw new Error(`${HERALD_MAIN} is missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const cfg = join(dir, 'herald.yaml');
  writeFileSync(cfg, heraldConfig(redis, { durable }));
  const port = await freePort();
  // HERALD_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles Herald under a preset.
  const nodeArgs = (process.env.HERALD_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // HERALD_BENCH_STDOUT=/tmp/gc.log keeps Herald's stdout (appended), e.g. with --trace-gc in HERALD_BENCH_NODE_ARGS.
  const out = stdoutFrom('HERALD_BENCH_STDOUT');
  const proc = spawn(process.execPath, [...nodeArgs, HERALD_MAIN, 'start', '--config', cfg, '--port', String(port),
    '--host', '127.0.0.1', ...(redis.cluster ? [] : ['--redis', redis.url]), ...(workers > 1 ? ['--workers', String(workers)] : [])], { stdio: ['ignore', out, 'pipe'] });
  if (typeof out === 'number') closeSync(out);
  await waitListening(proc, 'herald', 15000);
  for (let i = 0; i < 200 && (await httpStatus(port, '/readyz')) !== 200; i++) await sleep(50);
  return {
    // With --workers the supervisor's children do the work: all of them are measured.
    name: 'herald', port, pids: () => [proc.pid, ...(workers > 1 ? childPids(proc.pid) : [])],
    /** The supervisor's worker processes (--workers), for the rolling-restart preset's drain. */
    workerPids: () => (workers > 1 ? childPids(proc.pid) : []),
    async stop() { await stopProc(proc); rmSync(dir, { recursive: true, force: true }); },
  };
}

/**
 * `workers` > 1 (the uWS floor only): that many floor processes on one port. uWebSockets.js
 * binds with SO_REUSEPORT, so the kernel spreads the connections over them as it does over
 * Herald's --workers and nginx's worker_processes; each process subscribes to Redis itself.
 * The raw-`net` floors stay one process (Node 20's net has no reusePort).
 */
export async function startFloor({ redis, mode = 'direct', workers = 1 }) {
  const port = await freePort();
  const script = mode === 'uws' ? UWS_FLOOR : FLOOR;
  const count = mode === 'uws' ? workers : 1;
  // HERALD_BENCH_FLOOR_NODE_ARGS: the same for the floors (a profile to set beside Herald's).
  const nodeArgs = (process.env.HERALD_BENCH_FLOOR_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const name = mode === 'batch' ? 'floor-batch' : mode === 'uws' ? 'uws-floor' : 'floor';
  const procs = [];
  // stopProc's second parameter is the signal: no point-free map(stopProc), which would pass the index.
  const stopAll = () => Promise.all(procs.map((p) => stopProc(p))).then(() => {});
  try {
    for (let i = 0; i < count; i++) {
      // HERALD_BENCH_FLOOR_STDOUT: the floor's stdout, as HERALD_BENCH_STDOUT keeps Herald's (--trace-gc beside Herald's).
      const out = stdoutFrom('HERALD_BENCH_FLOOR_STDOUT');
      const proc = spawn(process.execPath, [...nodeArgs, script, '--port', String(port), '--redis-port', String(redis.port), '--mode', mode],
        { stdio: ['ignore', out, 'pipe'] });
      if (typeof out === 'number') closeSync(out);
      procs.push(proc);
      await waitListening(proc, name, 10000);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { name, port, pids: () => procs.map((p) => p.pid), stop: stopAll };
}

export function nchanAvailable() {
  return existsSync(NCHAN_MODULE) && spawnSync('nginx', ['-v']).status === 0;
}

function nginxConf(dir, port, workers) {
  const sub = (type, extra = '') => `nchan_subscriber ${type}; nchan_channel_id $arg_id; nchan_subscriber_first_message newest; ${extra}`;
  return `load_module ${NCHAN_MODULE};
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes ${workers};
worker_rlimit_nofile 20000;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  nchan_shared_memory_size 256M;
  nchan_message_buffer_length 100;
  nchan_message_timeout 1m;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /pub { nchan_publisher; nchan_channel_id $arg_id; }
    location = /sub/sse { ${sub('eventsource')} }
    location = /sub/ws { ${sub('websocket')} }
    location = /sub/poll { ${sub('longpoll', 'nchan_longpoll_multipart_response on;')} }
  }
}
`;
}

export async function startNchan({ workers = 1 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-nchan-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, port, workers));
  const proc = spawn('nginx', ['-c', conf, '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  try {
    await waitForPort(port, 10000);
  } catch (e) {
    const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
    await stopProc(proc);
    throw new Error(`nginx did not start: ${e.message}\n${stderr}${log.slice(-800)}`);
  }
  let started = [];
  for (let i = 0; i < 50 && started.length < workers; i++) { started = childPids(proc.pid); if (started.length < workers) await sleep(50); }
  return {
    name: 'nchan', port,
    // Only the worker does the work (the master just supervises): that is what is measured.
    pids: () => childPids(proc.pid),
    pubPath: (channel) => `/pub?id=${encodeURIComponent(channel)}`,
    async stop() { await stopProc(proc); rmSync(dir, { recursive: true, force: true }); },
  };
}

export async function startTarget(name, opts) {
  if (name === 'herald') return startHerald(opts);
  if (name === 'floor') return startFloor(opts);
  if (name === 'floor-batch') return startFloor({ ...opts, mode: 'batch' });
  if (name === 'uws-floor') return startFloor({ ...opts, mode: 'uws' });
  if (name === 'nchan') return startNchan(opts);
  throw new Error(`unknown target ${name}`);
}
