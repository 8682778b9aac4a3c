/**
 * The uWS floor: what the floor does (floor-server.mjs), on uWebSockets.js instead of raw
 * `net`: the least JavaScript on uWS can spend for the same deliveries, so "× uws-floor" is
 * Herald's own gateway logic, and the gap from it to Nchan is what uWS + V8 cost per request.
 * SSE, WebSocket and long-poll (held responses answered from a 100-message ring per channel).
 * No auth, routing, metrics, limits or heartbeats. Usage: node uws-floor-server.mjs --port P --redis-port R
 */
import { createRequire } from 'node:module';
import { redisSubscriber } from './resp-subscriber.mjs';

const require = createRequire(import.meta.url);
const uWS = require('uWebSockets.js');
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i === -1 ? dflt : process.argv[i + 1]; };
const PORT = Number(arg('port', '0'));
const REDIS_PORT = Number(arg('redis-port', '6379'));
const EPOCH = 'floor';
let seq = 0;
const channels = new Map();

function chan(name) {
  let c = channels.get(name);
  if (!c) { c = { sse: new Set(), ws: new Set(), waiters: new Set(), ring: [], evicted: 0 }; channels.set(name, c); }
  return c;
}

function answer(res, body) {
  res.cork(() => res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').end(body));
}
const pollBody = (elements, cursor, reset = '') => `{"messages":[${elements.join(',')}],"cursor":"${cursor}"${reset}}`;

function onMessage(name, payload) {
  const c = channels.get(name);
  seq++;
  const id = `${EPOCH}:${seq}`;
  const el = `{"channel":${JSON.stringify(name)},"id":"${id}","data":${JSON.stringify(payload)}}`;
  if (!c) return;
  c.ring.push({ seq, el });
  if (c.ring.length > 100) c.evicted = c.ring.shift().seq;
  if (c.sse.size) { const b = Buffer.from(`id: ${id}\ndata: ${payload}\n\n`); for (const res of c.sse) res.cork(() => res.write(b)); }
  if (c.ws.size) { const b = Buffer.from(`{"type":"message",${el.slice(1)}`); for (const ws of c.ws) ws.send(b, false); }
  if (c.waiters.size) {
    const b = Buffer.from(pollBody([el], id));
    for (const res of c.waiters) { res.done = true; answer(res, b); }
    c.waiters.clear();
  }
}

const app = uWS.App();
app.get('/sse', (res, req) => {
  const c = chan(new URLSearchParams(req.getQuery()).get('channel') ?? '');
  res.onAborted(() => c.sse.delete(res));
  res.cork(() => res.writeStatus('200 OK').writeHeader('Content-Type', 'text/event-stream').writeHeader('Cache-Control', 'no-cache').write('retry: 2000\n\n'));
  c.sse.add(res);
});
app.get('/poll', (res, req) => {
  const q = new URLSearchParams(req.getQuery());
  const c = chan(q.get('channel') ?? '');
  const cursor = q.get('cursor');
  if (cursor && !/^floor:\d+$/.test(cursor)) { answer(res, pollBody([], `${EPOCH}:${seq}`, ',"reset":[{"reason":"invalid"}]')); return; }
  const after = cursor ? Number(cursor.slice(cursor.indexOf(':') + 1)) : Infinity;
  const missed = c.ring.filter((m) => m.seq > after);
  const reset = after < c.evicted ? ',"reset":[{"reason":"evicted"}]' : '';
  if (missed.length) { answer(res, pollBody(missed.map((m) => m.el), `${EPOCH}:${missed[missed.length - 1].seq}`, reset)); return; }
  res.onAborted(() => c.waiters.delete(res));
  c.waiters.add(res);
});
app.ws('/ws', {
  upgrade: (res, req, context) => {
    const name = new URLSearchParams(req.getQuery()).get('channel') ?? '';
    res.upgrade({ name }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const name = ws.getUserData().name;
    ws.send(`{"type":"subscribed","channel":${JSON.stringify(name)}}`, false);
    chan(name).ws.add(ws);
  },
  close: (ws) => chan(ws.getUserData().name).ws.delete(ws),
});

redisSubscriber(REDIS_PORT, onMessage, () => app.listen('127.0.0.1', PORT, (token) => {
  if (!token) { process.stderr.write('uws-floor: cannot listen\n'); process.exit(1); }
  process.stderr.write(`{"msg":"listening","port":${uWS.us_socket_local_port(token)}}\n`);
}));
process.on('SIGTERM', () => process.exit(0));
