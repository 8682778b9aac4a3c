/**
 * One load-generator process: holds many raw-socket subscribers (SSE, WebSocket, long-poll)
 * and parses only what it must: HTTP head, chunked framing, WebSocket frame headers, and the
 * bench payload `@<seq>,<sendTimeUs>;` (the only '@' on the wire; `nowUs()` is
 * CLOCK_MONOTONIC, shared by all processes). Driven by the parent over IPC (see clients.mjs).
 */
import net from 'node:net';
import { Histogram } from './hist.mjs';
import { nowUs } from './net-util.mjs';
import { pathFor, pollNextHeaders } from './wire.mjs';

const HEAD = 0; const BODY = 1; const WSF = 2;
/**
 * A long-poller's first cursor: not a position, so Herald and the floor answer at once (Herald
 * with a `reset`, reason invalid) with the head cursor to continue from. That answer is the
 * poller's live signal, and the next poll, held, cannot miss anything after it.
 */
const PRIME = 'prime';
let cfg = null;
let conns = [];
let tNow = 0;
let cpuMark = process.cpuUsage();
const stats = {};
const errors = {};
let readyCount = 0;
let onReadyChange = null;

function tstats(t) {
  return (stats[t] ??= { received: 0, dups: 0, bad: 0, cycles: 0, hist: new Histogram() });
}
function err(key) { errors[key] = (errors[key] ?? 0) + 1; }

function newConn(transport, channel) {
  return {
    transport, channel, sock: null, phase: HEAD, head: null, ready: false, closing: false,
    chunked: false, ckRemain: 0, ckSize: 0, ckState: 0, bodyLeft: -1, tail: '',
    etag: '', lastMod: '', cursor: transport === 'poll' ? PRIME : '', keepAlive: true,
    sc: 0, seq: 0, ts: 0, last: -1, count: 0,
    // Messages skipped (seq jumps): in this answer, and those a poll `reset` told us about.
    gap: 0, answerMsgs: 0, resetMissed: 0, resetOpen: false, churn: false,
    wh: Buffer.alloc(10), whLen: 0, wsRemain: 0, wsOp: 0,
    st: tstats(transport), started: 0, onReady: null,
  };
}

function markReady(c) {
  if (c.ready) return;
  c.ready = true;
  readyCount++;
  if (c.onReady) c.onReady(c);
  if (onReadyChange) onReadyChange();
}

/** The payload scanner: state survives chunk boundaries. */
function scan(c, buf, from, to) {
  let i = from;
  while (i < to) {
    if (c.sc === 0) {
      const at = buf.indexOf(64, i);
      if (at === -1 || at >= to) return;
      i = at + 1; c.sc = 1; c.seq = 0;
      continue;
    }
    const b = buf[i++];
    if (b >= 48 && b <= 57) {
      if (c.sc === 1) c.seq = c.seq * 10 + (b - 48); else c.ts = c.ts * 10 + (b - 48);
    } else if (c.sc === 1 && b === 44) {
      c.sc = 2; c.ts = 0;
    } else if (c.sc === 2 && b === 59) {
      c.sc = 0;
      const st = c.st;
      if (c.seq > c.last) {
        if (c.seq > c.last + 1) c.gap += c.seq - c.last - 1;
        if (c.resetOpen) { c.resetOpen = false; c.resetMissed += c.gap; c.gap = 0; }
        c.last = c.seq; c.count++; c.answerMsgs++; st.received++; st.hist.record(tNow - c.ts);
      }
      else st.dups++;
    } else { c.sc = 0; st_bad(c); }
  }
}
function st_bad(c) { c.st.bad++; }

function bodyData(c, buf, from, to) {
  if (from >= to) return;
  scan(c, buf, from, to);
  if (c.transport === 'poll') c.tail = (c.tail + buf.latin1Slice(from, to)).slice(-300);
  else markReady(c);
}

function dechunk(c, buf, from) {
  let i = from;
  const n = buf.length;
  while (i < n) {
    if (c.ckRemain > 0) {
      const take = Math.min(c.ckRemain, n - i);
      bodyData(c, buf, i, i + take);
      i += take; c.ckRemain -= take;
      if (c.ckRemain === 0) c.ckState = 2;
      continue;
    }
    const b = buf[i++];
    if (c.ckState === 0) {
      if (b === 13) c.ckState = 1;
      else if (b === 59) c.ckState = 3;
      else c.ckSize = c.ckSize * 16 + (b <= 57 ? b - 48 : (b | 32) - 87);
    } else if (c.ckState === 3) {
      if (b === 13) c.ckState = 1;
    } else if (c.ckState === 1) {
      if (c.ckSize === 0) c.ckState = 4; else { c.ckRemain = c.ckSize; c.ckSize = 0; }
    } else if (c.ckState === 2) {
      if (b === 10) c.ckState = 0;
    } else if (c.ckState === 4) {
      if (b === 10) { c.ckState = 0; pollEnd(c); if (c.phase === HEAD && i < n) onData(c, buf.subarray(i)); return; }
    }
  }
}

function wsFeed(c, buf, from) {
  let i = from;
  const n = buf.length;
  while (i < n) {
    if (c.wsRemain > 0) {
      const take = Math.min(c.wsRemain, n - i);
      if (c.wsOp <= 1) scan(c, buf, i, i + take);
      i += take; c.wsRemain -= take;
      continue;
    }
    c.wh[c.whLen++] = buf[i++];
    if (c.whLen < 2) continue;
    const l7 = c.wh[1] & 127;
    const need = l7 < 126 ? 2 : l7 === 126 ? 4 : 10;
    if (c.whLen < need) continue;
    const len = l7 < 126 ? l7 : l7 === 126 ? c.wh.readUInt16BE(2) : Number(c.wh.readBigUInt64BE(2));
    c.wsOp = c.wh[0] & 15;
    c.whLen = 0; c.wsRemain = len;
    if (c.wsOp === 8) { err('ws-close-frame'); c.closing = true; }
    markReady(c);
  }
}

function parseHead(c, text) {
  const status = Number(text.slice(9, 12));
  c.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(text);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
  c.bodyLeft = cl ? Number(cl[1]) : -1;
  c.keepAlive = !/\r\nconnection:\s*close/i.test(text);
  if (cfg.target === 'nchan' && c.transport === 'poll') {
    const e = /\r\netag:\s*([^\r]*)/i.exec(text);
    const m = /\r\nlast-modified:\s*([^\r]*)/i.exec(text);
    if (e) c.etag = e[1];
    if (m) c.lastMod = m[1];
  }
  return status;
}

function pollEnd(c) {
  if (!c.churn) c.st.cycles++;
  c.phase = HEAD;
  if (cfg.target !== 'nchan') {
    const m = /"cursor":"([^"]+)"/.exec(c.tail);
    if (!m) { err('poll-no-cursor'); c.closing = true; c.sock.destroy(); return; }
    // An explicit `reset` (Herald: the cursor fell out of history) says messages were missed:
    // the skipped ones are counted as resets, not as silent losses. The priming answer's
    // reset (reason invalid) is expected.
    if (c.tail.includes('"reset"') && c.cursor !== PRIME) {
      err('poll-reset');
      c.resetMissed += c.gap;
      // No message after the jump yet: the next one shows how many the reset skipped.
      c.resetOpen = c.answerMsgs === 0;
    }
    c.cursor = m[1];
  }
  c.gap = 0; c.answerMsgs = 0;
  c.tail = '';
  markReady(c);
  if (c.closing) return;
  if (!c.keepAlive) { c.sock.destroy(); openConn(c); return; }
  sendRequest(c);
}

function onData(c, buf) {
  if (c.phase === HEAD) {
    const all = c.head ? Buffer.concat([c.head, buf]) : buf;
    const end = all.indexOf('\r\n\r\n');
    if (end === -1) {
      if (all.length > 16384) { err('head-too-long'); c.sock.destroy(); }
      c.head = all;
      return;
    }
    c.head = null;
    const status = parseHead(c, all.latin1Slice(0, end));
    const rest = end + 4;
    if (c.onHead) c.onHead(c);
    if (c.transport === 'ws') {
      if (status !== 101) { err(`ws-status-${status}`); c.closing = true; c.sock.destroy(); return; }
      c.phase = WSF;
      if (rest < all.length) wsFeed(c, all, rest);
      return;
    }
    if (status !== 200 && !(c.transport === 'poll' && (status === 304 || status === 408))) {
      err(`${c.transport}-status-${status}`); c.closing = true; c.sock.destroy(); return;
    }
    c.phase = BODY; c.ckState = 0; c.ckRemain = 0; c.ckSize = 0;
    if (c.transport === 'poll' && !c.chunked && c.bodyLeft <= 0) { pollEnd(c); if (rest < all.length && c.phase === HEAD) onData(c, all.subarray(rest)); return; }
    if (rest < all.length) onData(c, all.subarray(rest));
    return;
  }
  if (c.phase === WSF) { wsFeed(c, buf, 0); return; }
  if (c.chunked) { dechunk(c, buf, 0); return; }
  if (c.transport !== 'poll') { bodyData(c, buf, 0, buf.length); return; }
  const take = Math.min(c.bodyLeft, buf.length);
  bodyData(c, buf, 0, take);
  c.bodyLeft -= take;
  if (c.bodyLeft === 0) { pollEnd(c); if (take < buf.length && c.phase === HEAD) onData(c, buf.subarray(take)); }
}

function sendRequest(c) {
  const path = pathFor(cfg.target, c.transport, c.channel, c.cursor);
  let req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  if (c.transport === 'ws') {
    req += 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
      'Sec-WebSocket-Version: 13\r\n';
  } else if (c.transport === 'sse') {
    req += 'Accept: text/event-stream\r\n';
  } else if (cfg.target === 'nchan') {
    req += pollNextHeaders(c.etag, c.lastMod);
  }
  c.sock.write(req + '\r\n');
}

function openConn(c) {
  c.phase = HEAD; c.head = null; c.sc = 0; c.whLen = 0; c.wsRemain = 0;
  const opts = { host: cfg.host, port: cfg.port };
  if (cfg.localAddress) opts.localAddress = cfg.localAddress;
  const sock = net.connect(opts);
  c.sock = sock;
  sock.setNoDelay(true);
  sock.on('connect', () => { if (c.onConnect) c.onConnect(c); sendRequest(c); });
  sock.on('data', (buf) => { tNow = nowUs(); onData(c, buf); });
  sock.on('error', (e) => err(`socket-${e.code ?? e.message}`));
  sock.on('close', () => {
    if (c.sock !== sock) return;
    if (!c.closing) err('closed-by-server');
    if (c.onClose) c.onClose(c);
  });
}

/** Opens conns with at most `concurrency` handshakes in flight; resolves when all are ready. */
function openAll(list, concurrency) {
  return new Promise((resolve) => {
    let next = 0; let inFlight = 0; let failed = 0; let done = 0;
    const release = (c) => {
      if (c.released) return;
      c.released = true; inFlight--; done++;
      pump();
    };
    const check = () => { if (readyCount + failed >= list.length) { onReadyChange = null; resolve(failed); } };
    const pump = () => {
      while (inFlight < concurrency && next < list.length) {
        const c = list[next++];
        inFlight++;
        // Released on the server's answer, not on TCP connect: a connect completes before the
        // server accepts, so counting it would let the accept queue overflow.
        c.onHead = release;
        c.onClose = (x) => { if (!x.released) { failed++; release(x); check(); } };
        openConn(c);
      }
    };
    onReadyChange = check;
    pump();
    check();
    // Bounded: a subscriber that never goes live is counted, not waited for forever.
    const limit = setTimeout(() => {
      const missing = list.filter((c) => !c.ready).length;
      if (missing) errors['not-live-in-time'] = missing;
      onReadyChange = null;
      resolve(missing);
    }, 30000 + list.length * 5);
    limit.unref();
  });
}

async function churn({ cycles, concurrency, transport, channels, cursor }) {
  const st = tstats(transport);
  let started = 0; let finished = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const startOne = () => {
      if (started >= cycles) { if (finished >= cycles) resolve(); return; }
      const c = newConn(transport, channels[started % channels.length]);
      started++;
      c.started = nowUs();
      c.onReady = (x) => { clearTimeout(x.timer); x.st.hist.record(nowUs() - x.started); x.st.cycles++; x.closing = true; x.sock.destroy(); };
      // A poll cycle: one request answered at once from history (the caller's cursor precedes
      // a message on every channel), then close.
      if (transport === 'poll') { c.churn = true; if (cursor) c.cursor = cursor; }
      c.onClose = () => { clearTimeout(c.timer); finished++; if (!c.ready) err('churn-failed'); startOne(); };
      // Nchan says nothing on subscribe: its success answer (200 / 101) is the live signal.
      if (cfg.target === 'nchan') c.onHead = markReady;
      c.timer = setTimeout(() => { err('churn-timeout'); c.closing = true; c.sock.destroy(); }, 5000);
      openConn(c);
    };
    for (let i = 0; i < concurrency; i++) startOne();
  });
  readyCount = 0;
  return performance.now() - t0;
}

function report(sent) {
  const per = {};
  for (const [t, s] of Object.entries(stats)) per[t] = { received: s.received, dups: s.dups, bad: s.bad, cycles: s.cycles, lost: 0, resets: 0, late: 0, hist: s.hist.toJSON() };
  if (sent) {
    for (const c of conns) {
      const expected = sent[c.channel] ?? 0;
      const missing = expected - c.count;
      if (missing <= 0) continue;
      // Told (a reset; one not yet followed by a message covers everything still missing),
      // late (after the last message this subscriber got: not there when the window closed),
      // or silently skipped (a gap before it).
      const told = c.resetOpen ? missing : Math.min(missing, c.resetMissed);
      const late = Math.min(missing - told, Math.max(0, expected - 1 - c.last));
      per[c.transport].resets += told;
      per[c.transport].late += late;
      per[c.transport].lost += missing - told - late;
    }
  }
  const cpu = process.cpuUsage(cpuMark);
  return { per, errors, cpuUs: cpu.user + cpu.system, rssKb: Math.round(process.memoryUsage().rss / 1024) };
}

process.on('message', async (m) => {
  let reply;
  if (m.cmd === 'init') { cfg = m.cfg; reply = {}; }
  else if (m.cmd === 'open') {
    conns = m.conns.map(([t, ch]) => newConn(t, ch));
    const t0 = performance.now();
    const failed = await openAll(conns, m.concurrency);
    reply = { ms: performance.now() - t0, failed };
  } else if (m.cmd === 'reset') {
    for (const s of Object.values(stats)) { s.received = 0; s.dups = 0; s.bad = 0; s.cycles = 0; s.hist = new Histogram(); }
    for (const c of conns) { c.count = 0; c.gap = 0; c.resetMissed = 0; c.resetOpen = false; }
    for (const k of Object.keys(errors)) delete errors[k];
    cpuMark = process.cpuUsage();
    reply = {};
  } else if (m.cmd === 'count') {
    let received = 0; let cycles = 0;
    for (const s of Object.values(stats)) { received += s.received; cycles += s.cycles; }
    reply = { received, cycles };
  } else if (m.cmd === 'stats') reply = report(m.sent);
  else if (m.cmd === 'churn') reply = { ms: await churn(m) };
  else if (m.cmd === 'close') {
    for (const c of conns) { c.closing = true; c.sock?.destroy(); }
    reply = {};
    process.send({ id: m.id, ...reply }, () => process.exit(0));
    return;
  }
  process.send({ id: m.id, ...reply });
});
