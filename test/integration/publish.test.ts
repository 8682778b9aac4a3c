import { Redis } from 'ioredis';
import t from 'tap';
import { WsClient } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { httpCode } from './auth-probes.js';

// POST /publish: API keys with scopes, loopback rule behind a trusted proxy header, body
// limits, malformed bodies, and delivery through the broker to every transport.

const redisUrl = await sharedRedisUrl(t);
const sub = new Redis(redisUrl);
t.teardown(() => sub.quit());

const KEY_ALL = 'k-all-0123456789';
const p = uniquePrefix();
const CONFIG = `
server: { trustedIpHeader: x-forwarded-for }
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
  - { pattern: "${p}news:{n}", redis: "${p}app:news:{n}", access: public }
  - { pattern: "${p}jnews:{n}", access: public, payload: json }
  - { pattern: "${p}locked:{n}", access: public, publish: ["${p}locked:a*"] }
  - { pattern: "${p}other:{n}", access: public }
publish:
  keys:
    - { key: "\${TEST_PUBLISH_KEY}", scopes: ["*"] }
    - { key: "k-news", scopes: ["${p}news:*", "${p}jnews:*"] }
    - { key: "k-locked", scopes: ["${p}locked:*"] }
limits: { maxPublishBodyBytes: 1kb }
log: { level: warn }
`;
const h = await startHerald(t, { config: CONFIG, env: { TEST_PUBLISH_KEY: KEY_ALL } });

interface Answer {
  readonly status: number;
  readonly code: string;
  readonly body: Record<string, unknown>;
}

async function publish(body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${h.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status === 200) return { status: 200, code: 'ok', body: JSON.parse(text) as Record<string, unknown> };
  return { status: res.status, code: httpCode(t, res.status, text), body: JSON.parse(text) as Record<string, unknown> };
}

const REMOTE = { 'x-forwarded-for': '203.0.113.7' };

t.test('keys and loopback', async (t) => {
  const msg = { channel: `${p}news:a`, data: 'hello' };
  const ok = await publish(msg);
  t.equal(ok.code, 'ok', 'loopback without a key: allowed (publish.allowLoopback)');
  t.same(ok.body, { ok: true, channel: `${p}news:a`, receivers: 0 });
  t.equal((await publish(msg, REMOTE)).code, 'publish_unauthorized', 'non-loopback client (trusted header) without a key: 401');
  t.equal((await publish(msg, { ...REMOTE, authorization: 'Bearer wrong' })).code, 'publish_unauthorized', 'unknown key: 401');
  t.equal((await publish(msg, { ...REMOTE, authorization: `Bearer ${KEY_ALL}` })).code, 'ok', 'Authorization: Bearer key (from ${ENV})');
  t.equal((await publish(msg, { ...REMOTE, 'x-api-key': KEY_ALL })).code, 'ok', 'X-Api-Key');
  t.equal((await publish(msg, { ...REMOTE, 'x-api-key': 'k-news' })).code, 'ok', 'scoped key on its scope');
  t.equal((await publish({ channel: `${p}other:a`, data: 'x' }, { ...REMOTE, 'x-api-key': 'k-news' })).code, 'publish_forbidden', 'scoped key outside its scopes: 403');
  t.equal((await publish({ channel: `${p}locked:a`, data: 'x' }, { ...REMOTE, 'x-api-key': KEY_ALL })).code, 'ok', 'a `*` key on a channel the rule\'s publish list includes');
  t.equal((await publish({ channel: `${p}locked:b`, data: 'x' }, { ...REMOTE, 'x-api-key': KEY_ALL })).code, 'publish_forbidden', 'the rule\'s publish list leaves this channel out: 403');
  t.equal((await publish({ channel: `${p}locked:b`, data: 'x' })).code, 'publish_forbidden', 'also for loopback callers');
  t.equal((await publish({ channel: `${p}locked:a`, data: 'x' }, { ...REMOTE, 'x-api-key': 'k-locked' })).code, 'ok', 'scoped key');
  t.equal((await publish({ channel: `${p}locked:a`, data: 'x' }, { 'x-api-key': 'wrong' })).code, 'publish_unauthorized', 'a wrong key is refused even from loopback');
  const text = await scrape(h.url);
  t.ok(metricValue(text, 'herald_auth_failures_total', 'code="publish_unauthorized"') >= 3, 'auth failures counted');
  t.ok(metricValue(text, 'herald_publish_requests_total', 'outcome="forbidden"') >= 3, 'forbidden counted');
  t.ok(metricValue(text, 'herald_publish_requests_total', 'outcome="unauthorized"') >= 3, 'unauthorized counted');
});

t.test('a spoofed loopback address in front of the proxy\'s entry does not skip the key', async (t) => {
  // nginx $proxy_add_x_forwarded_for appends the real peer to what the client sent.
  const spoofed = await publish({ channel: `${p}news:a`, data: 'x' }, { 'x-forwarded-for': '127.0.0.1, 203.0.113.7' });
  t.equal(spoofed.code, 'publish_unauthorized');
});

t.test('body size trips at exactly limits.maxPublishBodyBytes', async (t) => {
  const sized = (n: number): string => {
    const base = JSON.stringify({ channel: `${p}news:a`, data: '' }).length;
    return JSON.stringify({ channel: `${p}news:a`, data: 'x'.repeat(n - base) });
  };
  t.equal(sized(1024).length, 1024);
  t.equal((await publish(sized(1024))).code, 'ok', '1024 bytes');
  const over = await publish(sized(1025));
  t.same([over.status, over.code], [413, 'payload_too_large'], '1025 bytes: 413');
  t.match(String((over.body['error'] as { message: string }).message), /limits\.maxPublishBodyBytes/, 'the message names the knob');
  t.equal((await publish(sized(200_000))).code, 'payload_too_large', 'far over');
  t.ok(metricValue(await scrape(h.url), 'herald_publish_requests_total', 'outcome="too_large"') >= 2, 'counted');
});

t.test('malformed bodies: 400 with a code', async (t) => {
  const cases: [string, unknown, string][] = [
    ['not JSON', '{"channel":', 'bad_request'],
    ['an array', '[1,2]', 'bad_request'],
    ['null', 'null', 'bad_request'],
    ['no channel', { data: 'x' }, 'channel_required'],
    ['channel not a string', { channel: 5, data: 'x' }, 'channel_required'],
    ['no data', { channel: `${p}news:a` }, 'bad_request'],
    ['text channel, object data', { channel: `${p}news:a`, data: { a: 1 } }, 'bad_request'],
    ['invalid channel name', { channel: `${p}news:a b`, data: 'x' }, 'channel_invalid'],
    ['no rule for the channel', { channel: 'nowhere:a', data: 'x' }, 'channel_denied'],
    ['empty body', '', 'bad_request'],
  ];
  for (const [what, body, code] of cases) t.equal((await publish(body)).code, code, what);
  t.ok(metricValue(await scrape(h.url), 'herald_publish_requests_total', 'outcome="invalid"') >= cases.length, 'counted as invalid');
});

t.test('published messages reach the Redis channel and SSE/WS subscribers; json stays raw', async (t) => {
  const redisSeen: [string, string][] = [];
  sub.on('message', (channel: string, message: string) => redisSeen.push([channel, message]));
  await sub.subscribe(`${p}app:news:b`);

  const sse = await RawSse.open(`${h.url}/sse?channel=${p}news:b&channel=${p}jnews:b`);
  t.teardown(() => sse.close());
  await sse.until(() => sse.retry !== null, 5000, 'stream start');
  const ws = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => ws.close());
  t.equal((await ws.subscribe(`${p}jnews:b`)).type, 'subscribed');
  t.equal((await ws.subscribe(`${p}news:b`)).type, 'subscribed');

  const text = await publish({ channel: `${p}news:b`, data: 'two\nlines' }, { 'x-api-key': 'k-news' });
  t.equal(text.code, 'ok');
  t.ok(Number(text.body['receivers']) >= 1, 'receivers counts the Redis subscribers');
  const value = { event: 'post.created', id: 7, tags: ['a', 'b'], nested: { ok: true, none: null } };
  t.equal((await publish({ channel: `${p}jnews:b`, data: value })).code, 'ok');

  await sse.waitForMessages(1);
  const published = (): typeof sse.events => sse.events.filter((e) => e.event !== 'subscribed');
  await sse.until(() => published().length >= 2, 5000, 'both events');
  t.same(published().map((e) => [e.event, e.data]), [['message', 'two\nlines'], ['post.created', JSON.stringify(value)]], 'SSE gets text verbatim and the JSON text');
  await ws.waitForMessages(2);
  const [first, second] = ws.messages();
  t.equal(first?.data, 'two\nlines', 'WS text channel: a JSON string');
  t.same(second?.data, value, 'WS json channel: the value');
  const rawJson = ws.raw.find((r) => r.includes(`"${p}jnews:b"`) && r.includes('"message"'));
  t.ok(rawJson?.includes(`"data":${JSON.stringify(value)}`), 'embedded as raw JSON, not a JSON string');
  t.same(redisSeen, [[`${p}app:news:b`, 'two\nlines']], 'published on the mapped Redis channel, verbatim');
});

t.test('allowLoopback: false needs a key from loopback too', async (t) => {
  const h2 = await startHerald(t, {
    config: `
channels:
  - { pattern: "news:{n}", access: public }
publish: { allowLoopback: false, keys: [{ key: k1, scopes: ["news:*"] }] }
log: { level: warn }
`,
  });
  const post = (headers: Record<string, string>): Promise<Response> =>
    fetch(`${h2.url}/publish`, { method: 'POST', headers, body: JSON.stringify({ channel: 'news:a', data: 'x' }) });
  const res = await post({});
  t.equal(httpCode(t, res.status, await res.text()), 'publish_unauthorized');
  t.equal((await post({ 'x-api-key': 'k1' })).status, 200);
});
