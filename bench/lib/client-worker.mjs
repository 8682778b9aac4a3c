/**
 * One load-generator process: holds many raw-socket subscribers (SSE, WebSocket, long-poll)
 * and parses only what it must: HTTP head, chunked framing, WebSocket frame headers, and the
 * bench payload `@<seq>,<sendTimeUs>;` (the only '@' on the wire; `nowUs()` is
 * CLOCK_MONOTONIC, shared by all processes). Driven by the parent over IPC (see clients.mjs).
 */
import net from 'node:net';
import { answerEnded, classifyMissing, newTally, recordSeq, restartWindow } from './accounting.mjs';
import { Histogram } from './hist.mjs';
import { nowUs } from './net-util.mjs';
import { PRIME, targetProfile } from './target-profile.mjs';
import { dechunk, MARK, parseHead, scanPayloads, WS_OP, wsFeed } from './wire-parse.mjs';
import { pathFor } from './wire.mjs';

/** Where a connection's reader is: response head, HTTP body, or WebSocket frames. */
const PHASE = { HEAD: 'head', BODY: 'body', WS: 'ws' };
let cfg = null;
let profile = null;
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
    transport, channel, sock: null, phase: PHASE.HEAD, head: null, ready: false, closing: false,
    chunked: false, ckRemain: 0, ckSize: 0, ckState: 0, bodyLeft: -1, tail: '',
    etag: '', lastMod: '', cursor: transport === 'poll' ? PRIME : '', keepAlive: true,
    sc: MARK.OUTSIDE, seq: 0, ts: 0, tally: newTally(), churn: false,
    wh: Buffer.alloc(10), whLen: 0, wsRemain: 0, wsOp: 0,
    st: tstats(transport), started: 0, onReady: null,
    // SSE with resume (cfg.resume): the last id seen, sent back as Last-Event-ID on reconnect.
    lastId: '', sseBuf: '',
  };
}

function markReady(c) {
  if (c.ready) return;
  c.ready = true;
  readyCount++;
  if (c.onReady) c.onReady(c);
  if (onReadyChange) onReadyChange();
}

/** The rolling-restart move window (send times, µs): its deliveries also go to moveHist. */
let moveFromUs = Infinity;
// HERALD_BENCH_DEBUG_RESUME=1: print the first few out-of-order / duplicate deliveries with the ids around them.
const DEBUG_RESUME = process.env.HERALD_BENCH_DEBUG_RESUME === '1';
let debugShown = 0;
let moveToUs = Infinity;

function onPayload(c, seq, sendUs) {
  if (recordSeq(c.tally, seq)) {
    c.st.received++;
    c.st.hist.record(tNow - sendUs);
    if (sendUs >= moveFromUs && sendUs < moveToUs) (c.st.moveHist ??= new Histogram()).record(tNow - sendUs);
  } else {
    c.st.dups++;
    // Resume: a seq below the last one that was never parsed arrived out of order (counted
    // as a dup and its slot as lost by the accounting); one parsed before is a true duplicate.
    if (cfg.resume) err(`${c.seen?.has(seq) ? 'dup-seen-before' : 'dup-out-of-order'}${c.ready && c.sinceOpen < 50 ? '-just-after-reconnect' : ''}`);
    if (DEBUG_RESUME && debugShown++ < 4) process.stderr.write(`resume dup/out-of-order: channel ${c.channel} seq ${seq} (last ${c.tally.last}) sent Last-Event-ID ${c.idSent}; recent [seq id]: ${JSON.stringify(c.recent)}\n`);
  }
  if (cfg.resume) { (c.seen ??= new Set()).add(seq); c.sinceOpen++; }
}

/**
 * SSE with resume: whole events, in order. `id:` is kept for Last-Event-ID; an `event: reset`
 * says the server skipped messages: the next jump is counted as told (resets), not as lost.
 */
const SSE_ID = /^id: (.*)$/m;
const SSE_EVENT = /^event: (.*)$/m;
const SSE_PAYLOAD = /@(\d+),(\d+);/;
function sseResumeData(c, buf, from, to) {
  c.sseBuf += buf.latin1Slice(from, to);
  for (let end = c.sseBuf.indexOf('\n\n'); end !== -1; end = c.sseBuf.indexOf('\n\n')) {
    const ev = c.sseBuf.slice(0, end);
    c.sseBuf = c.sseBuf.slice(end + 2);
    const id = SSE_ID.exec(ev);
    if (id) c.lastId = id[1];
    const name = SSE_EVENT.exec(ev)?.[1];
    if (name === 'reset') {
      err('sse-reset');
      c.tally.gap = 0; c.tally.answerMsgs = 0;
      answerEnded(c.tally, true);
    } else if (name === 'reconnect') err('sse-reconnect-event');
    else {
      const m = SSE_PAYLOAD.exec(ev);
      if (m) {
        if (DEBUG_RESUME) { (c.recent ??= []).push([Number(m[1]), id?.[1], c.sinceOpen]); if (c.recent.length > 14) c.recent.shift(); }
        onPayload(c, Number(m[1]), Number(m[2]));
      }
    }
  }
  markReady(c);
}
function onBad(c) { c.st.bad++; }
const scan = (c, buf, from, to) => scanPayloads(c, buf, from, to, onPayload, onBad);

function bodyData(c, buf, from, to) {
  if (from >= to) return;
  if (cfg.resume && c.transport === 'sse') { sseResumeData(c, buf, from, to); return; }
  scan(c, buf, from, to);
  if (c.transport === 'poll') c.tail = (c.tail + buf.latin1Slice(from, to)).slice(-300);
  else markReady(c);
}

/** A poll answer is complete; a pipelined next answer may follow at buf[next…]. */
function answerEnd(c, buf, next) {
  // SSE with resume: the server ended the stream (a drain): reconnect with Last-Event-ID.
  if (cfg.resume && c.transport === 'sse') { c.sock.destroy(); return; }
  pollEnd(c);
  if (c.phase === PHASE.HEAD && next < buf.length) onData(c, buf.subarray(next));
}

function wsFrame(c, op) {
  if (op === WS_OP.CLOSE) { err('ws-close-frame'); c.closing = true; }
  markReady(c);
}

function pollEnd(c) {
  if (!c.churn) c.st.cycles++;
  c.phase = PHASE.HEAD;
  const answer = profile.pollAnswer(c, c.tail);
  if (answer === null) { err('poll-no-cursor'); c.closing = true; c.sock.destroy(); return; }
  // An explicit `reset` (Herald: the cursor fell out of history) says messages were missed:
  // they are counted as resets, not as silent losses.
  if (answer.reset) err('poll-reset');
  answerEnded(c.tally, answer.reset);
  c.cursor = answer.cursor;
  c.tail = '';
  markReady(c);
  if (c.closing) return;
  if (!c.keepAlive) { c.sock.destroy(); openConn(c); return; }
  sendRequest(c);
}

function onHead(c, text) {
  const head = parseHead(text);
  c.chunked = head.chunked;
  c.bodyLeft = head.contentLength;
  c.keepAlive = head.keepAlive;
  profile.readHead(c, text);
  return head.status;
}

function onData(c, buf) {
  if (c.phase === PHASE.HEAD) {
    const all = c.head ? Buffer.concat([c.head, buf]) : buf;
    const end = all.indexOf('\r\n\r\n');
    if (end === -1) {
      if (all.length > 16384) { err('head-too-long'); c.sock.destroy(); }
      c.head = all;
      return;
    }
    c.head = null;
    const status = onHead(c, all.latin1Slice(0, end));
    const rest = end + 4;
    if (c.onHead) c.onHead(c);
    if (c.transport === 'ws') {
      if (status !== 101) { err(`ws-status-${status}`); c.closing = true; c.sock.destroy(); return; }
      c.phase = PHASE.WS;
      if (rest < all.length) wsFeed(c, all, rest, scan, wsFrame);
      return;
    }
    if (status !== 200 && !(c.transport === 'poll' && (status === 304 || status === 408))) {
      err(`${c.transport}-status-${status}`);
      // SSE with resume: an error answer (e.g. 503 draining) is retried by the close handler.
      if (!(cfg.resume && c.transport === 'sse')) c.closing = true;
      c.sock.destroy(); return;
    }
    c.phase = PHASE.BODY; c.ckState = 0; c.ckRemain = 0; c.ckSize = 0;
    if (c.transport === 'poll' && !c.chunked && c.bodyLeft <= 0) { answerEnd(c, all, rest); return; }
    if (rest < all.length) onData(c, all.subarray(rest));
    return;
  }
  if (c.phase === PHASE.WS) { wsFeed(c, buf, 0, scan, wsFrame); return; }
  if (c.chunked) { dechunk(c, buf, 0, bodyData, answerEnd); return; }
  if (c.transport !== 'poll') { bodyData(c, buf, 0, buf.length); return; }
  const take = Math.min(c.bodyLeft, buf.length);
  bodyData(c, buf, 0, take);
  c.bodyLeft -= take;
  if (c.bodyLeft === 0) answerEnd(c, buf, take);
}

function sendRequest(c) {
  const path = pathFor(cfg.target, c.transport, c.channel, c.cursor);
  let req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  if (c.transport === 'ws') {
    req += 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
      'Sec-WebSocket-Version: 13\r\n';
  } else if (c.transport === 'sse') {
    req += 'Accept: text/event-stream\r\n';
    if (c.lastId) req += `Last-Event-ID: ${c.lastId}\r\n`;
    c.idSent = c.lastId;
  } else {
    req += profile.pollHeaders(c);
  }
  c.sock.write(req + '\r\n');
}

function openConn(c) {
  c.phase = PHASE.HEAD; c.head = null; c.sc = MARK.OUTSIDE; c.whLen = 0; c.wsRemain = 0; c.sseBuf = ''; c.sinceOpen = 0;
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
    if (!c.closing && cfg.resume && c.transport === 'sse' && c.ready) {
      // Resume: reconnect at once (as Herald's client does after a drain); a refused connect
      // (no listener for a moment) retries after 50 ms.
      err('sse-reconnect');
      const retry = (c.retries = (c.retries ?? 0) + 1);
      setTimeout(() => { if (!c.closing) openConn(c); }, sock.bytesRead > 0 ? 0 : Math.min(1000, 50 * retry));
      return;
    }
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
      if (profile.liveOnAnswer) c.onHead = markReady;
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
  for (const [t, s] of Object.entries(stats)) per[t] = { received: s.received, dups: s.dups, bad: s.bad, cycles: s.cycles, lost: 0, resets: 0, late: 0, hist: s.hist.toJSON(), moveHist: s.moveHist?.toJSON() };
  if (sent) {
    for (const c of conns) {
      const { resets, late, lost } = classifyMissing(c.tally, sent[c.channel] ?? 0);
      per[c.transport].resets += resets;
      per[c.transport].late += late;
      per[c.transport].lost += lost;
    }
  }
  const cpu = process.cpuUsage(cpuMark);
  return { per, errors, cpuUs: cpu.user + cpu.system, rssKb: Math.round(process.memoryUsage().rss / 1024) };
}

process.on('message', async (m) => {
  let reply;
  if (m.cmd === 'init') { cfg = m.cfg; profile = targetProfile(cfg.target); reply = {}; }
  else if (m.cmd === 'open') {
    conns = m.conns.map(([t, ch]) => newConn(t, ch));
    const t0 = performance.now();
    const failed = await openAll(conns, m.concurrency);
    reply = { ms: performance.now() - t0, failed };
  } else if (m.cmd === 'reset') {
    for (const s of Object.values(stats)) { s.received = 0; s.dups = 0; s.bad = 0; s.cycles = 0; s.hist = new Histogram(); s.moveHist = undefined; }
    for (const c of conns) { restartWindow(c.tally); c.seen = undefined; }
    for (const k of Object.keys(errors)) delete errors[k];
    cpuMark = process.cpuUsage();
    reply = {};
  } else if (m.cmd === 'move') {
    moveFromUs = m.fromUs ?? moveFromUs; moveToUs = m.toUs ?? Infinity;
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
