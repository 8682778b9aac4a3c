import t from 'tap';
import { WsClient } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, type HeraldProcess } from '../helpers/herald.js';
import { RawSse } from '../helpers/sse.js';
import { signToken, tamper, TEST_SECRET, unsecuredToken } from '../helpers/tokens.js';
import { pollProbe, sseProbe, wsProbe, type TokenPlace } from './auth-probes.js';

// Issue 4: every rule form, every token failure, over all three transports, through the
// public surface of a real daemon (memory broker: nothing here needs Redis).

const AUD = 'herald-test';
const ORIGIN = 'https://app.example';

const CONFIG = `
channels:
  - { pattern: "pub:{name}", access: public }
  - { pattern: "any:{name}", access: token }
  - pattern: "user:{userId}"
    access: { token: { sub: userId } }
  - pattern: "forum:{forum}:thread:{id}"
    access: { token: { claimContains: { claim: forums, param: forum } } }
  - pattern: "grant:{name}"
    access: { token: { channelsClaim: true } }
jwt: { algorithms: [HS256], secret: "${TEST_SECRET}", audience: ${AUD} }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 30s, heartbeat: 25s, idle: 120s }
    - { name: quick, lifetime: 300s, pollHold: 50ms, heartbeat: 25s, idle: 120s }
cors: { origins: ["${ORIGIN}"], credentials: true }
log: { level: debug }
`;

const nowS = (): number => Math.floor(Date.now() / 1000);

/** A real HS256 token valid now (exp relative to the wall clock, since the daemon reads it). */
function token(claims: Record<string, unknown>, expInS = 3600, key = TEST_SECRET): Promise<string> {
  return signToken({ iat: nowS(), aud: AUD, ...claims }, { alg: 'HS256', key, exp: nowS() + expInS });
}

const h: HeraldProcess = await startHerald(t, { config: CONFIG });

const u1 = await token({ sub: 'u1' });
const forums = await token({ sub: 'u1', forums: ['f1', 7] });
const granted = await token({ sub: 'u1', channels: ['grant:a', 'grant:pre*'] });
const cases: readonly (readonly [string, string, string, string])[] = [
  // [what, channel, token, expected]
  ['public channel, no token', 'pub:x', '', 'ok'],
  ['public channel, garbage token is ignored', 'pub:x', 'not-a-jwt', 'ok'],
  ['no rule matches (default deny)', 'nope:x', u1, 'channel_denied'],
  ['invalid channel name', 'pub:bad name', '', 'channel_invalid'],
  ['token rule, no token', 'any:x', '', 'token_missing'],
  ['token rule, any valid token', 'any:x', u1, 'ok'],
  ['sub rule, own user channel', 'user:u1', u1, 'ok'],
  ["sub rule, another user's channel", 'user:u2', u1, 'token_forbidden'],
  ['sub rule, token without sub', 'user:u1', await token({}), 'token_forbidden'],
  ['claimContains, string member', 'forum:f1:thread:9', forums, 'ok'],
  ['claimContains, numeric member matches text param', 'forum:7:thread:1', forums, 'ok'],
  ['claimContains, not a member', 'forum:f2:thread:9', forums, 'token_forbidden'],
  ['claimContains, claim absent', 'forum:f1:thread:9', u1, 'token_forbidden'],
  ['channelsClaim, exact entry', 'grant:a', granted, 'ok'],
  ['channelsClaim, glob entry', 'grant:prefix', granted, 'ok'],
  ['channelsClaim, not listed', 'grant:b', granted, 'token_forbidden'],
  ['alg none', 'any:x', unsecuredToken({ sub: 'u1', aud: AUD, iat: nowS(), exp: nowS() + 3600 }), 'token_algorithm_denied'],
  ['tampered signature', 'any:x', tamper(u1), 'token_signature_invalid'],
  ['signed with another secret', 'any:x', await token({ sub: 'u1' }, 3600, 'another-secret-that-is-32-bytes-long!!'), 'token_signature_invalid'],
  ['expired', 'any:x', await token({ sub: 'u1' }, -60), 'token_expired'],
  ['wrong audience', 'any:x', await token({ sub: 'u1', aud: 'someone-else' }), 'token_claim_invalid'],
  ['not a JWT', 'any:x', 'not-a-jwt', 'token_invalid'],
];

for (const [transport, probe, places] of [
  ['sse', (ch: string, tok: string, place: TokenPlace) => sseProbe(t, h, [ch], tok, place), ['query', 'header']],
  ['poll', (ch: string, tok: string, place: TokenPlace) => pollProbe(t, h, [ch], tok, place), ['query', 'header']],
  ['ws', (ch: string, tok: string, place: TokenPlace) => wsProbe(t, h, ch, tok, place), ['frame', 'query', 'header']],
] as const) {
  t.test(`every rule form and token failure over ${transport}`, async (t) => {
    for (const place of places) {
      for (const [what, channel, tok, expected] of cases) {
        t.equal(await probe(channel, tok, place), expected, `${transport} (token in ${place}): ${what}`);
      }
    }
  });
}

t.test('an SSE stream with several channels is refused whole when one is not granted', async (t) => {
  t.equal(await sseProbe(t, h, ['user:u1', 'user:u2'], u1), 'token_forbidden');
  t.equal(await sseProbe(t, h, ['user:u1', 'pub:x'], u1), 'ok');
  t.equal(await pollProbe(t, h, ['pub:x', 'user:u2'], u1), 'token_forbidden');
});

t.test('auth failures are counted by code', async (t) => {
  const text = await scrape(h.url);
  for (const code of ['token_missing', 'token_forbidden', 'token_algorithm_denied', 'token_signature_invalid', 'token_expired', 'token_claim_invalid']) {
    t.ok(metricValue(text, 'herald_auth_failures_total', `code="${code}"`) > 0, `herald_auth_failures_total{code="${code}"}`);
  }
});

t.test('a token expiring mid-stream ends protected subscriptions within one second of expiry', async (t) => {
  // exp is whole seconds: aim for 2–3 s from now, so the subscription is surely live before it.
  const exp = nowS() + 3;
  const short = await signToken({ iat: nowS(), aud: AUD, sub: 'u1' }, { alg: 'HS256', key: TEST_SECRET, exp });

  const sse = await RawSse.open(`${h.url}/sse?channel=user:u1&token=${short}`);
  t.teardown(() => sse.close());
  t.equal(sse.status, 200);
  const ws = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => ws.close());
  t.equal((await ws.subscribe('user:u1', { token: short })).type, 'subscribed');
  t.equal((await ws.subscribe('pub:stays')).type, 'subscribed');

  const sseEnd = sse.until(() => sse.ended, 6000, 'SSE end at token expiry').then(() => Date.now());
  const wsEnd = ws.next((f) => f.type === 'unsubscribed' && f.channel === 'user:u1', 0, 6000).then(() => Date.now());
  const [sseAt, wsAt] = await Promise.all([sseEnd, wsEnd]);

  const error = sse.events.find((e) => e.event === 'stream-error');
  t.ok(error !== undefined, 'SSE stream ends with an error event');
  t.equal((JSON.parse(error?.data ?? '{}') as { code?: string }).code, 'token_expired');
  const expMs = exp * 1000;
  t.ok(sseAt >= expMs - 50, `SSE not ended before expiry (${sseAt - expMs} ms)`);
  t.ok(sseAt - expMs <= 1000, `SSE ended ${sseAt - expMs} ms after expiry`);

  const wsError = ws.frames.find((f) => f.type === 'error' && f.channel === 'user:u1');
  t.equal(wsError?.code, 'token_expired', 'WS error frame token_expired, then unsubscribed');
  t.ok(wsAt >= expMs - 50, `WS not ended before expiry (${wsAt - expMs} ms)`);
  t.ok(wsAt - expMs <= 1000, `WS subscription ended ${wsAt - expMs} ms after expiry`);
  t.equal(ws.closed, null, 'the socket stays open');
  t.equal((await ws.request({ type: 'ping' }, 'pong')).type, 'pong', 'and usable');
  t.equal(ws.frames.filter((f) => f.type === 'unsubscribed').length, 1, 'the public subscription is untouched');
});

t.test('origins: not on the list → WS upgrade refused and no CORS headers; on the list → headers with credentials', async (t) => {
  await t.rejects(WsClient.open(`${h.wsUrl}/ws`, { origin: 'https://evil.example' }), /HTTP 403/, 'upgrade refused');
  const ok = await WsClient.open(`${h.wsUrl}/ws`, { origin: ORIGIN });
  ok.close();
  const noOrigin = await WsClient.open(`${h.wsUrl}/ws`);
  noOrigin.close();
  t.pass('allowed origin and non-browser clients (no Origin) connect');

  const evil = await RawSse.open(`${h.url}/sse?channel=pub:x`, { origin: 'https://evil.example' });
  t.teardown(() => evil.close());
  t.equal(evil.status, 403, 'SSE from a foreign origin is refused before any subscription work');
  t.match(await evil.body(), /"code":"origin_denied"/);
  t.equal(evil.headers['access-control-allow-origin'], undefined, 'SSE: no ACAO for a foreign origin');
  t.equal(evil.headers['access-control-allow-credentials'], undefined);
  const good = await RawSse.open(`${h.url}/sse?channel=pub:x`, { origin: ORIGIN });
  t.teardown(() => good.close());
  t.equal(good.headers['access-control-allow-origin'], ORIGIN);
  t.equal(good.headers['access-control-allow-credentials'], 'true');

  for (const [origin, expected] of [['https://evil.example', null], [ORIGIN, ORIGIN]] as const) {
    const poll = await fetch(`${h.url}/poll?channel=pub:x&client=quick`, { headers: { origin } });
    await poll.text();
    t.equal(poll.headers.get('access-control-allow-origin'), expected, `poll ACAO for ${origin}`);
    const refused = await fetch(`${h.url}/sse?channel=user:u2`, { headers: { origin } });
    await refused.text();
    t.equal(refused.status, expected === null ? 403 : 401, expected === null ? 'foreign origin: origin_denied first' : 'allowed origin: the token check answers');
    t.equal(refused.headers.get('access-control-allow-origin'), expected, `error answers too, for ${origin}`);
    const pre = await fetch(`${h.url}/sse`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
    await pre.text();
    t.equal(pre.headers.get('access-control-allow-origin'), expected, `preflight for ${origin}`);
  }
});

t.test('tokens never appear in the logs, even at debug', async (t) => {
  const secretish = await token({ sub: 'u9', marker: 'never-log-me' });
  await sseProbe(t, h, ['user:u9'], secretish);
  await sseProbe(t, h, ['user:u1'], secretish);
  await pollProbe(t, h, ['user:u9'], secretish, 'header');
  await wsProbe(t, h, 'user:u9', secretish, 'query');
  await wsProbe(t, h, 'user:u1', secretish, 'frame');
  await fetch(`${h.url}/nowhere?token=${secretish}`).then((r) => r.text());
  // Stop gracefully so every buffered log line is written before reading them.
  await h.stop('SIGTERM');
  const logs = h.logs();
  t.ok(logs.length > 0, 'the daemon logged something');
  t.notOk(logs.includes(secretish), 'the whole token is absent');
  t.notOk(logs.includes(secretish.split('.')[2]!), 'its signature is absent');
  t.notOk(logs.includes(secretish.split('.')[1]!), 'its claims are absent');
  t.notOk(logs.includes(TEST_SECRET), 'the JWT secret is absent');
});
