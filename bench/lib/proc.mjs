/**
 * What the kernel says a process costs: CPU from /proc/PID/stat (all threads), write
 * syscalls from /proc/PID/io, RSS from /proc/PID/status, and TCP data segments sent from
 * `ss -ti` (counts send(2) too, which /proc/PID/io syscw does not: uSockets writes with
 * send(2), Node and nginx with write/writev).
 */
import { readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch (err) {
  process.emitWarning(`getconf CLK_TCK failed (${err.message}); assuming 100`);
}

function readOne(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces: it ends at the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = (Number(f[11]) * 1e6) / clkTck;
  const sys = (Number(f[12]) * 1e6) / clkTck;
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const syscw = Number(/syscw:\s*(\d+)/.exec(io)?.[1] ?? 0);
  const syscr = Number(/syscr:\s*(\d+)/.exec(io)?.[1] ?? 0);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s*(\d+)/.exec(status)?.[1] ?? 0);
  // The main thread (tid = pid) alone: the rest is V8's compiler and GC helpers, libuv's pool.
  const m = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const mf = m.slice(m.lastIndexOf(')') + 2).split(' ');
  const main = ((Number(mf[11]) + Number(mf[12])) * 1e6) / clkTck;
  return { user, sys, syscw, syscr, rssKb, main };
}

/** Sum over a set of pids (nginx: its workers). CPU in µs. */
export function sample(pids) {
  const s = { user: 0, sys: 0, syscw: 0, syscr: 0, rssKb: 0, main: 0, at: performance.now() };
  for (const pid of pids) {
    const o = readOne(pid);
    s.user += o.user; s.sys += o.sys; s.syscw += o.syscw; s.syscr += o.syscr; s.rssKb += o.rssKb; s.main += o.main;
  }
  return s;
}

export function delta(a, b) {
  return {
    cpuUs: b.user + b.sys - a.user - a.sys,
    userUs: b.user - a.user,
    sysUs: b.sys - a.sys,
    mainUs: b.main - a.main,
    syscw: b.syscw - a.syscw,
    syscr: b.syscr - a.syscr,
    wallMs: b.at - a.at,
  };
}

export function childPids(ppid) {
  const out = [];
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(ppid)], { encoding: 'utf8' });
  for (const line of r.stdout.split('\n')) if (line.trim()) out.push(Number(line.trim()));
  return out;
}

/** Total data segments sent by sockets whose local port is `port`: ≈ write calls. */
export function tcpSegsOut(port) {
  const r = spawnSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], {
    encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) return null;
  let total = 0;
  const re = /data_segs_out:(\d+)/g;
  let m;
  while ((m = re.exec(r.stdout)) !== null) total += Number(m[1]);
  return total;
}
