/**
 * The floor: the least a fan-out server can do for the same deliveries. Raw `net` sockets,
 * one PSUBSCRIBE to Redis, each message framed once per transport, then one write per socket
 * per message (`--mode direct`) or per 10 ms flush (`--mode batch`, the coalescing floor).
 * Long-poll: a bare keep-alive request/response over a 100-message ring per channel.
 * No auth, routing, metrics, limits or heartbeats: whatever Herald spends above this is its
 * gateway logic. Usage: node floor-server.mjs --port P --redis-port R [--mode direct|batch]
 */
import net from 'node:net';
import { createHash } from 'node:crypto';
import { redisSubscriber } from './resp-subscriber.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i === -1 ? dflt : process.argv[i + 1]; };
const PORT = Number(arg('port', '0'));
const REDIS_PORT = Number(arg('redis-port', '6379'));
const BATCH = arg('mode', 'direct') === 'batch';
const FLUSH_MS = 10;
const EPOCH = 'floor';
let seq = 0;
const channels = new Map();

function chan(name) {
  let c = channels.get(name);
  if (!c) {
    c = { sse: new Set(), ws: new Set(), waiters: new Set(), ring: [], evicted: 0, pSse: [], pWs: [], pPoll: [] };
    channels.set(name, c);
  }
  return c;
}

const chunk = (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n')]); };
function wsFrame(text) {
  const body = Buffer.from(text);
  const n = body.length;
  const head = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255]) : null;
  if (!head) { const h = Buffer.alloc(10); h[0] = 0x81; h[1] = 127; h.writeBigUInt64BE(BigInt(n), 2); return Buffer.concat([h, body]); }
  return Buffer.concat([head, body]);
}
/** One answer, built once and written to every waiting poller. */
function pollResponse(elements, cursor, reset = '') {
  const body = `{"messages":[${elements.join(',')}],"cursor":"${cursor}"${reset}}`;
  return Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
function pollAnswer(sock, elements, cursor, reset) { sock.write(pollResponse(elements, cursor, reset)); }

function onMessage(name, payload) {
  const c = channels.get(name);
  seq++;
  const id = `${EPOCH}:${seq}`;
  const dataJson = JSON.stringify(payload);
  const el = `{"channel":${JSON.stringify(name)},"id":"${id}","data":${dataJson}}`;
  if (!c) return;
  c.ring.push({ seq, el });
  if (c.ring.length > 100) c.evicted = c.ring.shift().seq;
  if (BATCH) {
    if (c.pSse.length === 0 && c.pPoll.length === 0) setTimeout(flush, FLUSH_MS, c);
    c.pSse.push(`id: ${id}\ndata: ${payload}\n\n`);
    c.pWs.push(wsFrame(`{"type":"message",${el.slice(1)}`));
    c.pPoll.push(el);
    return;
  }
  if (c.sse.size) { const b = chunk(`id: ${id}\ndata: ${payload}\n\n`); for (const s of c.sse) s.write(b); }
  if (c.ws.size) { const b = wsFrame(`{"type":"message",${el.slice(1)}`); for (const s of c.ws) s.write(b); }
  if (c.waiters.size) { const b = pollResponse([el], id); for (const s of c.waiters) s.write(b); c.waiters.clear(); }
}

function flush(c) {
  const last = `${EPOCH}:${c.ring[c.ring.length - 1].seq}`;
  if (c.sse.size) { const b = chunk(c.pSse.join('')); for (const s of c.sse) s.write(b); }
  if (c.ws.size) { const b = Buffer.concat(c.pWs); for (const s of c.ws) s.write(b); }
  if (c.waiters.size) { const b = pollResponse(c.pPoll, last); for (const s of c.waiters) s.write(b); c.waiters.clear(); }
  c.pSse = []; c.pWs = []; c.pPoll = [];
}

function onRequest(sock, head) {
  const line = head.slice(0, head.indexOf('\r\n'));
  const url = new URL(line.split(' ')[1], 'http://x');
  const name = url.searchParams.get('channel') ?? '';
  const c = chan(name);
  if (url.pathname === '/sse') {
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n');
    sock.write(chunk('retry: 2000\n\n'));
    c.sse.add(sock); sock.once('close', () => c.sse.delete(sock));
    return true;
  }
  if (url.pathname === '/ws') {
    const key = /\r\nsec-websocket-key:\s*([^\r]+)/i.exec(head)?.[1] ?? '';
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    sock.write(wsFrame(`{"type":"subscribed","channel":${JSON.stringify(name)}}`));
    c.ws.add(sock); sock.once('close', () => c.ws.delete(sock));
    return true;
  }
  if (url.pathname === '/poll') {
    const cursor = url.searchParams.get('cursor');
    // Like Herald: a cursor that is no position is answered at once with the head to go on from.
    if (cursor && !/^floor:\d+$/.test(cursor)) { pollAnswer(sock, [], `${EPOCH}:${seq}`, ',"reset":[{"reason":"invalid"}]'); return false; }
    const after = cursor ? Number(cursor.slice(cursor.indexOf(':') + 1)) : Infinity;
    const missed = c.ring.filter((m) => m.seq > after);
    // Messages after the cursor fell out of the ring: said plainly, as Herald does.
    const reset = after < c.evicted ? ',"reset":[{"reason":"evicted"}]' : '';
    if (missed.length) { pollAnswer(sock, missed.map((m) => m.el), `${EPOCH}:${missed[missed.length - 1].seq}`, reset); return false; }
    c.waiters.add(sock);
    if (!sock.floorPoll) { sock.floorPoll = true; sock.once('close', () => c.waiters.delete(sock)); }
    return false;
  }
  sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  return true;
}

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  let buf = '';
  let streaming = false;
  sock.on('error', () => sock.destroy());
  sock.on('data', (d) => {
    if (streaming) return;
    buf += d.latin1Slice(0, d.length);
    for (let end = buf.indexOf('\r\n\r\n'); end !== -1 && !streaming; end = buf.indexOf('\r\n\r\n')) {
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      streaming = onRequest(sock, head);
    }
  });
});

redisSubscriber(REDIS_PORT, onMessage, () => server.listen(PORT, '127.0.0.1', 4096, () => process.stderr.write(`{"msg":"listening","port":${server.address().port}}\n`)));
process.on('SIGTERM', () => process.exit(0));
