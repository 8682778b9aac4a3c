import t from 'tap';
import { WsClient } from '../helpers/clients.js';
import { metricValue, scrape, startHerald } from '../helpers/herald.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';
import { httpCode, pollProbe, sseProbe, wsProbe } from './auth-probes.js';

// Issue 4 limits: each trips exactly at the configured number, answers with a clear error
// (HTTP 4xx + JSON, or a WS error frame) and is counted in herald_client_errors_total.

const CLASSES = `
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 30s, heartbeat: 25s, idle: 120s }
    - { name: quick, lifetime: 300s, pollHold: 50ms, heartbeat: 25s, idle: 120s }`;

function config(limits: string, server = ''): string {
  return `
${server}
channels:
  - { pattern: "c:{name}", access: public }
${CLASSES}
limits: { ${limits} }
log: { level: warn }
`;
}

const errorsCounted = async (url: string, code: string): Promise<number> => metricValue(await scrape(url), 'herald_client_errors_total', `code="${code}"`);

t.test('maxConnectionsPerIp trips at exactly N, over every transport, and frees a slot on close', async (t) => {
  const h = await startHerald(t, { config: config('maxConnectionsPerIp: 3') });
  const open: RawSse[] = [];
  t.teardown(() => open.forEach((s) => s.close()));
  for (let i = 0; i < 3; i++) {
    const s = await RawSse.open(`${h.url}/sse?channel=c:a`);
    open.push(s);
    t.equal(s.status, 200, `SSE connection ${i + 1} of 3 admitted`);
  }
  t.equal(await sseProbe(t, h, ['c:a']), 'too_many_connections', 'SSE 4th refused with 429');
  t.equal(await pollProbe(t, h, ['c:a']), 'too_many_connections', 'poll refused while 3 streams are open');
  const upgrade = await WsClient.open(`${h.wsUrl}/ws`).then(
    (c) => {
      c.close();
      return 'open';
    },
    (err: Error) => err.message,
  );
  t.match(upgrade, /HTTP 429/, 'WS upgrade refused with 429');

  open.pop()!.close();
  await waitFor(async () => (await sseProbe(t, h, ['c:a'])) === 'ok', { timeoutMs: 5000, what: 'a slot freed after a close' });
  t.pass('closing one connection admits another');

  // Two WS + one SSE = 3: the count is per IP across transports.
  // The probe above closed its stream; the server may see that a moment later.
  let ws1: WsClient | null = null;
  await waitFor(async () => (ws1 = await WsClient.open(`${h.wsUrl}/ws`)) !== null, { timeoutMs: 5000, what: 'a WS slot' });
  t.teardown(() => ws1?.close());
  t.equal(await sseProbe(t, h, ['c:a']), 'too_many_connections', 'WS sockets count toward the same limit');
  t.ok((await errorsCounted(h.url, 'too_many_connections')) >= 4, 'counted in herald_client_errors_total');
});

t.test('the client IP comes from the trusted header only when one is configured', async (t) => {
  const untrusted = await startHerald(t, { config: config('maxConnectionsPerIp: 1') });
  const a = await RawSse.open(`${untrusted.url}/sse?channel=c:a`, { 'x-forwarded-for': '203.0.113.1' });
  t.teardown(() => a.close());
  t.equal(a.status, 200);
  t.equal(await sseProbe(t, untrusted, ['c:a'], '', 'query', { 'x-forwarded-for': '203.0.113.2' }), 'too_many_connections', 'X-Forwarded-For ignored without server.trustedIpHeader');

  const trusted = await startHerald(t, { config: config('maxConnectionsPerIp: 1', 'server: { trustedIpHeader: X-Forwarded-For }') });
  const b = await RawSse.open(`${trusted.url}/sse?channel=c:a`, { 'x-forwarded-for': '203.0.113.1' });
  t.teardown(() => b.close());
  t.equal(b.status, 200);
  t.equal(await sseProbe(t, trusted, ['c:a'], '', 'query', { 'x-forwarded-for': '203.0.113.2' }), 'ok', 'another client IP behind the proxy is admitted');
  t.equal(await sseProbe(t, trusted, ['c:a'], '', 'query', { 'x-forwarded-for': '203.0.113.1' }), 'too_many_connections', 'the same client IP is limited');
  t.equal(await sseProbe(t, trusted, ['c:a']), 'ok', 'no header: the socket address');

  // A proxy that appends (nginx $proxy_add_x_forwarded_for) keeps whatever the client sent in
  // front: only the right-most entry was written by the trusted proxy.
  await t.test('a client-supplied X-Forwarded-For prefix cannot choose the IP', async (t) => {
    t.equal(await sseProbe(t, trusted, ['c:a'], '', 'query', { 'x-forwarded-for': '198.51.100.9, 203.0.113.1' }), 'too_many_connections', 'limited as 203.0.113.1');
  });
});

t.test('maxSubscriptionsPerConnection trips at exactly N', async (t) => {
  const h = await startHerald(t, { config: config('maxSubscriptionsPerConnection: 2') });
  t.equal(await sseProbe(t, h, ['c:1', 'c:2']), 'ok', 'SSE with 2 channels');
  t.equal(await sseProbe(t, h, ['c:1', 'c:2', 'c:3']), 'too_many_subscriptions', 'SSE with 3 channels: 400');
  t.equal(await sseProbe(t, h, ['c:1', 'c:2', 'c:2']), 'ok', 'duplicates count once');
  t.equal(await pollProbe(t, h, ['c:1', 'c:2']), 'ok', 'poll with 2');
  t.equal(await pollProbe(t, h, ['c:1', 'c:2', 'c:3']), 'too_many_subscriptions', 'poll with 3');

  const ws = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => ws.close());
  t.equal((await ws.subscribe('c:1')).type, 'subscribed');
  t.equal((await ws.subscribe('c:2')).type, 'subscribed');
  const third = await ws.subscribe('c:3');
  t.same([third.type, third.code, third.channel], ['error', 'too_many_subscriptions', 'c:3'], 'WS 3rd subscribe: error frame');
  t.equal((await ws.request({ type: 'unsubscribe', channel: 'c:1' }, 'unsubscribed')).channel, 'c:1');
  t.equal((await ws.subscribe('c:3')).type, 'subscribed', 'room again after an unsubscribe');

  const viaUrl = await WsClient.open(`${h.wsUrl}/ws?channel=c:1&channel=c:2&channel=c:3`);
  t.teardown(() => viaUrl.close());
  const err = await viaUrl.next((f) => f.type === 'error');
  t.equal(err.code, 'too_many_subscriptions', '?channel= on the URL obeys the same limit');
  t.ok((await errorsCounted(h.url, 'too_many_subscriptions')) >= 4, 'counted');
});

t.test('maxChannelLength trips at exactly N characters', async (t) => {
  const h = await startHerald(t, { config: config('maxChannelLength: 20') });
  const at = `c:${'x'.repeat(18)}`;
  const over = `c:${'x'.repeat(19)}`;
  t.equal(at.length, 20);
  t.equal(await sseProbe(t, h, [at]), 'ok', 'SSE: 20 characters');
  t.equal(await sseProbe(t, h, [over]), 'channel_invalid', 'SSE: 21 characters');
  t.equal(await pollProbe(t, h, [at]), 'ok', 'poll: 20');
  t.equal(await pollProbe(t, h, [over]), 'channel_invalid', 'poll: 21');
  t.equal(await wsProbe(t, h, at), 'ok', 'WS: 20');
  t.equal(await wsProbe(t, h, over), 'channel_invalid', 'WS: 21');
  const res = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel: over, data: 'x' }) });
  t.equal(httpCode(t, res.status, await res.text()), 'channel_invalid', 'publish: 21');
  t.ok((await errorsCounted(h.url, 'channel_invalid')) >= 3, 'counted');
});

t.test('maxFrameBytes: a larger WS frame gets frame_too_large, the socket stays', async (t) => {
  const h = await startHerald(t, { config: config('maxFrameBytes: 1kb') });
  const ws = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => ws.close());
  const big = await ws.request({ type: 'subscribe', channel: 'c:a', pad: 'x'.repeat(1100) }, 'error');
  t.equal(big.code, 'frame_too_large');
  t.equal((await ws.subscribe('c:a', { pad: 'x'.repeat(900) })).type, 'subscribed', 'under the limit is fine');
  t.ok((await errorsCounted(h.url, 'frame_too_large')) >= 1, 'counted');
});
