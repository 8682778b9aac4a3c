import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import WebSocket from 'ws';
import { extractBlocks } from '../helpers/doc-blocks.js';
import { MAIN, metricValue, startHerald, uniquePrefix } from '../helpers/herald.js';
import { freePort } from '../helpers/redis.js';

// Sharp edges a newcomer hit following the docs (issue 11): each test failed before its fix.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function run(args: readonly string[], timeoutMs = 20_000): Promise<{ code: number | null; err: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, err, ms: Date.now() - started });
    });
  });
}

t.test('a second Herald on a busy port exits 2 with a clear message (no silent SO_REUSEPORT split)', async (t) => {
  const first = await startHerald(t);
  const second = await run(['start', '--host', '127.0.0.1', '--port', String(first.port)]);
  t.equal(second.code, 2, 'runtime failure exit code');
  t.match(second.err, /cannot listen on 127\.0\.0\.1:\d+ .*port is in use/, second.err);
  t.match(second.err, /--workers N/, 'the message says how to share a port on purpose');
  t.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first one is unaffected');
});

t.test('Redis unreachable: every subscribe transport answers at once, and the log keeps saying so', async (t) => {
  const deadPort = await freePort();
  const p = uniquePrefix();
  const h = await startHerald(t, {
    waitReady: false,
    config: `
broker: { type: redis, url: "redis://:secret@127.0.0.1:${deadPort}", reconnectMin: 50ms, reconnectMax: 300ms }
channels:
  - { pattern: "${p}:{name}", access: public }
log: { level: info }
`,
  });
  const channel = `${p}:news`;
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const out = await fn();
    // Prompt, even on a loaded machine; before the fix these held for 20 s and more.
    t.ok(Date.now() - started < 5000, `${what} answered within 5 s (${Date.now() - started} ms)`);
    return out;
  };

  // A regression would hold these requests open: cut them after 10 s so the test fails, not hangs.
  const signal = (): AbortSignal => AbortSignal.timeout(10_000);
  const sse = await timed('/sse', () => fetch(`${h.url}/sse?channel=${channel}`, { signal: signal() }));
  t.equal(sse.status, 200, 'SSE: a stream (an error status would stop EventSource for good)');
  const sseBody = await timed('/sse body', () => sse.text());
  t.match(sseBody, /^retry: 2000\n/m, 'retry hint: EventSource reconnects in 2 s');
  t.match(sseBody, /event: stream-error\ndata: \{"code":"broker_unavailable",.*"temporary":true\}/, sseBody);

  const nd = await timed('/stream', () => fetch(`${h.url}/stream?channel=${channel}`, { signal: signal() }).then((r) => r.text()));
  const line = nd.split('\n').find((l) => l.includes('stream-error'));
  t.match(JSON.parse(line ?? '{}'), { type: 'stream-error', code: 'broker_unavailable' }, 'NDJSON: a stream-error line');

  const poll = await timed('/poll', () => fetch(`${h.url}/poll?channel=${channel}`, { signal: signal() }));
  t.equal(poll.status, 503);
  t.equal(poll.headers.get('retry-after'), '2');
  t.match(await poll.json(), { error: { code: 'broker_unavailable', temporary: true } });

  const upgrade = await timed('/ws', () => new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
    const ws = new WebSocket(`${h.wsUrl}/ws?channel=${channel}`);
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('upgrade accepted while Redis is down')));
    ws.once('error', () => {});
  }));
  t.same(upgrade, { status: 503, retryAfter: '2' }, 'WebSocket: upgrade refused 503 broker_unavailable');

  await h.waitForLog(/redis unreachable.*\n(.*\n)*.*redis unreachable/, 5000);
  const lines = h.logs().split('\n').filter((l) => l.includes('redis unreachable'));
  t.ok(lines.length >= 2, `repeated while down (${lines.length} lines)`);
  t.match(lines[0], new RegExp(`"redis":"127\\.0\\.0\\.1:${deadPort}"`), 'names the address');
  t.notMatch(h.logs(), /secret/, 'never the password');
  t.match(lines[0], /"lastError":".*ECONNREFUSED/, 'says why');
});

t.test('herald_auth_failures_total counts channel_denied and origin_denied, as documented', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
channels:
  - { pattern: "${p}:{name}", access: public }
cors: { origins: ["https://app.example.com"] }
`,
  });
  t.equal((await fetch(`${h.url}/sse?channel=nope:x`)).status, 403);
  t.equal((await fetch(`${h.url}/poll?channel=nope:x`)).status, 403);
  t.equal((await fetch(`${h.url}/sse?channel=${p}:a`, { headers: { origin: 'https://evil.example' } })).status, 403);
  const pub = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel: 'nope:x', data: 'x' }) });
  t.equal(pub.status, 403);
  const text = await (await fetch(`${h.url}/metrics`)).text();
  t.equal(metricValue(text, 'herald_auth_failures_total', 'code="channel_denied"'), 3, 'SSE, poll and publish denials');
  t.equal(metricValue(text, 'herald_auth_failures_total', 'code="origin_denied"'), 1);
});

t.test('check-config accepts --config FILE like start does', async (t) => {
  t.equal((await run(['check-config', '--config', 'config/herald.yaml'])).code, 0, '--config FILE');
  t.equal((await run(['check-config', 'config/herald.yaml'])).code, 0, 'FILE');
  const none = await run(['check-config']);
  t.equal(none.code, 1);
  t.match(none.err, /needs a file/);
});

t.test('the publishing-rights example of docs/auth.md, verbatim: a `*` key may publish where the rule says publish: ["events:*"]', async (t) => {
  const blocks = extractBlocks(ROOT, 'docs/auth.md').filter((b) => b.lang === 'yaml' && b.body.includes('ORDERS_SERVICE_KEY'));
  t.equal(blocks.length, 1, 'the documented block');
  const keys = { HERALD_PUBLISH_KEY: 'all-key-0123456789', ORDERS_SERVICE_KEY: 'orders-key-0123456789' };
  const h = await startHerald(t, { config: blocks[0]!.body, env: keys });
  const publish = async (channel: string, key: string): Promise<number> =>
    (await fetch(`${h.url}/publish`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ channel, data: 'x' }) })).status;
  t.equal(await publish('events:orders', keys.HERALD_PUBLISH_KEY), 200, 'the `*` key on events:orders');
  t.equal(await publish('events:anything', keys.HERALD_PUBLISH_KEY), 200, 'the `*` key on any events: channel');
  t.equal(await publish('events:orders', keys.ORDERS_SERVICE_KEY), 200, 'the orders key on its channel');
  t.equal(await publish('events:orders-eu', keys.ORDERS_SERVICE_KEY), 200, 'and on what its glob covers');
  t.equal(await publish('events:billing', keys.ORDERS_SERVICE_KEY), 403, 'not outside its scopes');
});

t.test('/metrics: only the addresses metrics.allow names may scrape (default: loopback and private networks)', async (t) => {
  const h = await startHerald(t, { config: 'channels:\n  - { pattern: "public:{name}", access: public }\nmetrics: { allow: ["10.0.0.0/8"] }\n' });
  const res = await fetch(`${h.url}/metrics`);
  t.equal(res.status, 404, 'a loopback scraper is refused when the list does not name it');
  t.match(await res.json(), { error: { code: 'not_found' } });
});
