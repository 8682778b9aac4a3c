/** Loopback helpers: free ports, waiting for a listener, a bounded wait. */
import net from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitForPort(port, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** One HTTP GET over a fresh socket; resolves with the status code (or 0 on error). */
export function httpStatus(port, path) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('latin1');
    s.once('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => {
      buf += d;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      if (m) { s.destroy(); resolve(Number(m[1])); }
    });
    s.once('error', () => resolve(0));
    s.once('close', () => resolve(0));
  });
}

/** µs on CLOCK_MONOTONIC: the same clock in every process of this machine. */
export function nowUs() {
  const t = process.hrtime();
  return t[0] * 1e6 + Math.floor(t[1] / 1000);
}

/** Herald's (or the floor's) head cursor: a poll with a cursor that is no position is answered at once. */
export function pollCursor(port, channel) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('latin1');
    s.once('connect', () => s.write(`GET /poll?channel=${encodeURIComponent(channel)}&cursor=prime HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => {
      buf += d;
      const m = /"cursor":"([^"]+)"/.exec(buf);
      if (m) { s.destroy(); resolve(m[1]); }
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error(`no cursor from port ${port}: ${buf.slice(0, 200)}`)));
  });
}
