/**
 * Publishers. Redis: raw RESP PUBLISH, pipelined on one connection (what an app does); a
 * cluster: SPUBLISH on one such connection per shard master.
 * Nchan: HTTP POST to its publisher endpoint, pipelined on a few keep-alive connections.
 * Both count answers, so the caller can wait until every publish has been accepted.
 */
import net from 'node:net';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './net-util.mjs';

export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir, '--maxclients', '1000'], { stdio: 'ignore' });
  await waitForPort(port, 10000);
  return {
    port, pid: proc.pid, pids: [proc.pid], url: `redis://127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Redis Cluster of `masters` masters (no replicas: the bench measures throughput, not
 * failover), for the `cluster` preset. `pids` lets the scenario read each shard's CPU.
 */
export async function startCluster(masters = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-cluster-'));
  const procs = [];
  try {
    const ports = [];
    for (let i = 0; i < masters; i++) {
      const { port, proc } = await startClusterNode(dir);
      ports.push(port);
      procs.push(proc);
    }
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    const admin = new Redis({ port: ports[0], host: '127.0.0.1' });
    for (let i = 0; i < 200 && !String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'); i++) await new Promise((r) => setTimeout(r, 50));
    // Slot → master port, read once: the bench's channels do not move.
    const owner = new Array(16384);
    for (const [start, end, [, port]] of await admin.call('CLUSTER', 'SLOTS')) for (let s = start; s <= end; s++) owner[s] = Number(port);
    admin.disconnect();
    return {
      cluster: true, ports, port: ports[0], pids: procs.map((p) => p.pid), url: `redis://127.0.0.1:${ports[0]}`,
      seeds: ports.map((p) => `127.0.0.1:${p}`),
      ownerOf: (channel) => owner[calculateSlot(channel)],
      async stop() {
        await stopAll(procs);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    // Nothing of a cluster that did not come up outlives the row (a node left running kept
    // the whole compare run from exiting).
    await stopAll(procs);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * One cluster node on a free port, with its cluster bus on a free port of its own: redis'
 * default bus port (port + 10000) may be taken by another process or lie past 65535, which
 * failed one 3-shard row in each of two compare runs. A port taken between freePort() and
 * redis' bind is retried on new ones.
 */
async function startClusterNode(dir) {
  for (let attempt = 1; ; attempt++) {
    const [port, bus] = [await freePort(), await freePort()];
    const proc = spawn('redis-server', ['--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
      '--maxclients', '1000'], { stdio: 'ignore' });
    const exited = new Promise((_, reject) => proc.once('exit', (code) => reject(new Error(`redis-server on ${port} (bus ${bus}) exited with ${code}`))));
    try {
      await Promise.race([waitForPort(port, 10000), exited]);
      exited.catch(() => {});
      return { port, proc };
    } catch (err) {
      exited.catch(() => {});
      await stopAll([proc]);
      if (attempt === 5) throw err;
    }
  }
}

async function stopAll(procs) {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', r)))));
}

/** SPUBLISH, each channel on a raw RESP connection to the master of its slot (what a cluster-aware app does). */
export async function clusterPublisher(cluster) {
  const byPort = new Map();
  for (const port of cluster.ports) byPort.set(port, await redisPublisher(port, 'SPUBLISH'));
  const route = new Map();
  return {
    publish(channel, payload) {
      let pub = route.get(channel);
      if (pub === undefined) route.set(channel, (pub = byPort.get(cluster.ownerOf(channel))));
      pub.publish(channel, payload);
    },
    pending: () => [...byPort.values()].reduce((n, p) => n + p.pending(), 0),
    close: () => { for (const p of byPort.values()) p.close(); },
  };
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

export async function redisPublisher(port, command = 'PUBLISH') {
  const sock = await connect(port);
  let acked = 0;
  let sent = 0;
  let errShown = false;
  sock.on('data', (d) => {
    // Every PUBLISH answer is one ":<n>\r\n" line (FCALL: [id, :<n>]; an error is "-ERR …").
    for (let i = d.indexOf(58); i !== -1; i = d.indexOf(58, i + 1)) if (i === 0 || d[i - 1] === 10) acked++;
    if (d.indexOf('-ERR') !== -1 && !errShown) { errShown = true; process.stderr.write(`redis publish error: ${d.toString().slice(0, 200)}\n`); }
  });
  return {
    publish(channel, payload) {
      const cl = Buffer.byteLength(channel);
      const pl = Buffer.byteLength(payload);
      // FCALL herald_publish 1 <channel> <payload>: a durable channel (docs/resume.md).
      if (command === 'FCALL') sock.write(`*5\r\n$5\r\nFCALL\r\n$14\r\nherald_publish\r\n$1\r\n1\r\n$${cl}\r\n${channel}\r\n$${pl}\r\n${payload}\r\n`);
      else sock.write(`*3\r\n$${command.length}\r\n${command}\r\n$${cl}\r\n${channel}\r\n$${pl}\r\n${payload}\r\n`);
      sent++;
    },
    pending: () => sent - acked,
    close: () => sock.destroy(),
  };
}

export async function nchanPublisher(port, pathFor, nConns = 4) {
  const socks = [];
  let acked = 0;
  let sent = 0;
  for (let i = 0; i < nConns; i++) {
    const s = await connect(port);
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) break;
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) break;
        buf = buf.slice(end + 4 + len);
        acked++;
      }
    });
    socks.push(s);
  }
  // One connection per channel, so a channel's messages cannot overtake each other.
  const pick = (channel) => {
    let h = 0;
    for (let i = 0; i < channel.length; i++) h = (h * 31 + channel.charCodeAt(i)) | 0;
    return socks[Math.abs(h) % socks.length];
  };
  return {
    publish(channel, payload) {
      const s = pick(channel);
      s.write(`POST ${pathFor(channel)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n` +
        `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
      sent++;
    },
    pending: () => sent - acked,
    close: () => { for (const s of socks) s.destroy(); },
  };
}
