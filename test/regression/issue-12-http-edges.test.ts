import t from 'tap';
import WebSocket from 'ws';
import { metricValue, scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { bodyOf, rawExchange, REFUSAL_TRIES, refusalExchange, statusOf } from '../helpers/raw-http.js';
import { RawSse } from '../helpers/sse.js';

// Issue 12: HTTP edge cases. Conflicting Content-Length is refused and the connection closed
// (no request smuggling); oversized URLs and headers that reach Herald get 414 / 431; what
// uWebSockets.js drops before Herald sees it is pinned here so docs/limits.md stays true.

t.test('HTTP framing and size edges', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
channels:
  - { pattern: "${p}:{name}", access: public }
limits: { maxUrlBytes: 32kb, maxHeaderBytes: 16kb }
log: { level: warn }
`,
  });
  const sse = await RawSse.open(`${h.url}/sse?channel=${p}:a`);
  t.teardown(() => sse.close());
  await sse.until(() => sse.retry !== null);

  const smuggled = (data: string): string => {
    const body = JSON.stringify({ channel: `${p}:a`, data });
    return `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };
  const inner = smuggled('smuggled');

  await t.test('Content-Length: N then 0 is refused and closed', async (t) => {
    const body = JSON.stringify({ channel: `${p}:a`, data: 'first-wins' });
    const reply = await rawExchange(h.port, `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nContent-Length: 0\r\n\r\n${body}`);
    t.equal(statusOf(reply.text), 400);
    t.match(JSON.parse(bodyOf(reply.text)), { error: { code: 'content_length_invalid' } });
    t.equal(reply.end, 'closed', 'the server closed the connection');
  });

  await t.test('Content-Length: 0 then N (the body would be a second request) is refused and closed', async (t) => {
    // Whole in one read: uWS cuts the connection itself once it sees the pipelined request
    // behind the unanswered one. Split across reads: Herald's 400 goes out first. Either way
    // the body is never processed as a request.
    const reply = await rawExchange(h.port, `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`);
    t.ok(reply.text === '' || statusOf(reply.text) === 400, 'a 400 or nothing');
    t.ok((reply.text.match(/HTTP\/1\.1 /g)?.length ?? 0) <= 1, 'never a second response: the body was not parsed as a request');
    t.not(reply.end, 'timeout', 'the connection is closed');
    const head = `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${inner.length}\r\n\r\n`;
    const split = await rawExchange(h.port, [head, inner]);
    t.equal(statusOf(split.text), 400);
    t.match(JSON.parse(bodyOf(split.text)), { error: { code: 'content_length_invalid' } });
    t.equal(split.text.match(/HTTP\/1\.1 /g)?.length, 1);
    t.equal(split.end, 'closed');
  });

  await t.test('the same Content-Length twice is refused too, on any route', async (t) => {
    const twice = await rawExchange(h.port, `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: ${inner.length}\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`);
    t.equal(statusOf(twice.text), 400);
    t.equal(twice.end, 'closed');
    const onGet = await rawExchange(h.port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 4\r\n\r\n`, 'abcd']);
    t.equal(statusOf(onGet.text), 400, 'on a GET route as well');
    const upgrade = await rawExchange(h.port, [
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\nContent-Length: 4\r\n\r\n`,
      'abcd',
    ]);
    t.equal(statusOf(upgrade.text), 400, 'and on the WebSocket upgrade');
    const teAndCl = await rawExchange(h.port, `POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    t.equal(statusOf(teAndCl.text), 0, 'Transfer-Encoding with Content-Length: uWS closes at once, nothing answered');
    t.not(teAndCl.end, 'timeout');
    const malformed = await rawExchange(h.port, `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello`);
    t.not(statusOf(malformed.text), 200, 'a malformed Content-Length is never accepted');
  });

  await t.test('a single Content-Length still publishes, on a kept-alive connection', async (t) => {
    const twoRequests = smuggled('one') + smuggled('two');
    const reply = await rawExchange(h.port, twoRequests, 1000);
    t.equal(reply.text.match(/HTTP\/1\.1 200/g)?.length, 2, 'two pipelined requests, two answers');
  });

  await t.test('URL over limits.maxUrlBytes gets 414 (10,000 channel= parameters)', async (t) => {
    const query = Array.from({ length: 10_000 }, () => 'channel=a').join('&');
    t.ok(query.length < 120 * 1024, 'small enough that uWS hands the request over');
    // A fresh connection: a refusal closes its connection.
    const reply = await refusalExchange(h.port, `GET /sse?${query} HTTP/1.1\r\nHost: x\r\n\r\n`);
    t.equal(statusOf(reply.text), 414);
    t.match(JSON.parse(bodyOf(reply.text)), { error: { code: 'url_too_long' } });
    t.equal(reply.end, 'closed');
    const upgrade = (): Promise<number> =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(`${h.wsUrl}/ws?${query}`);
        socket.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
        socket.on('open', () => resolve(101));
        socket.on('error', () => resolve(-1));
        socket.on('close', () => resolve(-1));
      });
    // -1: the answer lost to the loopback reset race (see refusalExchange); retried.
    let ws = await upgrade();
    for (let i = 1; i < REFUSAL_TRIES && ws === -1; i++) ws = await upgrade();
    t.equal(ws, 414, 'the WebSocket upgrade too');
  });

  await t.test('a 100 KB Authorization header gets 431', async (t) => {
    const auth = `Bearer ${'a'.repeat(100 * 1024)}`;
    for (const [method, path] of [['GET', `/sse?channel=${p}:a`], ['GET', `/poll?channel=${p}:a`], ['POST', '/publish']] as const) {
      const reply = await refusalExchange(h.port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Length: 2\r\n\r\n{}`);
      t.equal(statusOf(reply.text), 431, path);
      t.match(JSON.parse(bodyOf(reply.text)), { error: { code: 'header_too_large' } });
    }
  });

  await t.test('the headers read once by the screen and reused (issue 15) are still measured', async (t) => {
    const big = 'a'.repeat(100 * 1024);
    const apiKey = await refusalExchange(h.port, `POST /publish HTTP/1.1\r\nHost: x\r\nX-Api-Key: ${big}\r\nContent-Length: 2\r\n\r\n{}`);
    t.equal(statusOf(apiKey.text), 431, `X-Api-Key (${apiKey.end} after ${apiKey.ms} ms: ${JSON.stringify(apiKey.text.slice(0, 80))})`);
    t.match(JSON.parse(bodyOf(apiKey.text)), { error: { code: 'header_too_large' } });
    for (const header of ['Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Origin', 'Last-Event-ID']) {
      const reply = await refusalExchange(
        h.port,
        `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${header}: ${big}\r\n\r\n`,
      );
      t.equal(statusOf(reply.text), 431, `${header} on the WebSocket upgrade`);
      t.match(JSON.parse(bodyOf(reply.text)), { error: { code: 'header_too_large' } });
    }
    const sse = await refusalExchange(h.port, `GET /sse?channel=${p}:a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: ${big}\r\n\r\n`);
    t.equal(statusOf(sse.text), 431, 'Last-Event-ID on SSE');
  });

  await t.test('what uWebSockets.js drops before Herald sees it (docs/limits.md)', async (t) => {
    const bigQuery = Array.from({ length: 10_000 }, (_, i) => `channel=c${i}`).join('&');
    const reset = await rawExchange(h.port, `GET /sse?${bigQuery} HTTP/1.1\r\nHost: x\r\n\r\n`);
    t.equal(statusOf(reset.text), 0, 'a request line + headers over ~128 KiB: no answer');
    t.not(reset.end, 'timeout', 'the connection is cut at once');
    const manyHeaders = Array.from({ length: 60 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const dropped = await rawExchange(h.port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${manyHeaders}\r\n\r\n`, 1000);
    t.equal(statusOf(dropped.text), 0, 'more than ~50 header lines: no answer');
  });

  await t.test('HTTP/1.0 is never answered by the pinned uWebSockets.js (docs/proxy.md)', async (t) => {
    const reply = await rawExchange(h.port, 'GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n', 1000);
    t.equal(reply.text, '', 'no bytes: proxies must speak HTTP/1.1 to Herald (proxy_http_version 1.1)');
  });

  t.equal((await fetch(`${h.url}/healthz`)).status, 200, 'still alive');
  const ok = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel: `${p}:a`, data: 'marker' }) });
  t.equal(ok.status, 200, `the publish after the edges: ${ok.status} ${ok.status === 200 ? '' : await ok.text()}`);
  await sse.until(() => sse.messages().some((m) => m.data === 'marker'));
  const seen = sse.messages().map((m) => m.data);
  t.same(seen.filter((d) => d === 'first-wins' || d === 'smuggled'), [], 'no refused body was ever published');
  const metrics = await scrape(h.url);
  t.ok(metricValue(metrics, 'herald_client_errors_total', 'code="content_length_invalid"') >= 4, 'refusals are counted');
  t.ok(metricValue(metrics, 'herald_client_errors_total', 'code="url_too_long"') >= 2);
  t.equal(h.child.exitCode, null, `still running (${h.child.exitCode} ${h.child.signalCode}) ${h.child.exitCode === null ? '' : h.logs().slice(-2000)}`);
});
