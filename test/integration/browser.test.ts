import { Redis } from 'ioredis';
import t from 'tap';
import { CHROMIUM_PATH, chromiumAvailable, launchBrowser, PageHarness, startPageServer, type PageEntry } from '../helpers/browser.js';
import { WsClient } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { POSITION } from '../helpers/positions.js';

// Herald from a real Chromium: the page is served from another origin than Herald, so every
// request is a real CORS request and the browser's own EventSource / WebSocket / fetch do the
// reconnecting, the Last-Event-ID header and the CORS checks.

interface WsFrameEntry extends PageEntry {
  readonly frame: { type: string; channel?: string; id?: string; data?: unknown; position?: string };
}
interface PollEntry extends PageEntry {
  readonly status: number;
  readonly body: { messages: { channel: string; id: string; data: unknown }[]; cursor: string; reset?: unknown[] };
}

const ID = POSITION;
const of = (log: PageEntry[], kind: string): PageEntry[] => log.filter((e) => e.kind === kind);

if (!chromiumAvailable()) {
  t.plan(0, `no Chromium at ${CHROMIUM_PATH}: browser integration tests skipped (CI installs the chromium package)`);
} else {
  const redisUrl = await sharedRedisUrl(t);
  const pub = new Redis(redisUrl);
  t.teardown(() => pub.quit());
  const allowed = await startPageServer(t);
  const denied = await startPageServer(t);
  const p = uniquePrefix();
  const h: HeraldProcess = await startHerald(t, {
    config: `
broker: { type: redis, url: "${redisUrl}", linger: 5s }
channels:
  - { pattern: "${p}:{name}", access: public, history: { size: 1000, maxAge: 1m } }
  - { pattern: "${p}j:{name}", access: public, payload: json }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 10s, heartbeat: 25s, idle: 120s }
    - { name: quick, lifetime: 1500ms, pollHold: 300ms, heartbeat: 25s, idle: 10s }
sse: { retry: 800ms }
limits: { pollBatchSize: 4 }
cors: { origins: ["${allowed.origin}"] }
log: { level: warn }
`,
  });
  const browser = await launchBrowser(t);
  const page = await PageHarness.open(t, browser, allowed.origin);

  t.test('EventSource gets PUBLISHed payloads byte for byte, and a json channel’s named event', async (t) => {
    const payloads = ['plain', 'two\nlines', '\n\nleading empty lines', 'trailing\n', 'a\n\n\nb', 'héllo ✓ 日本語 🎉', 'data: not a field', '  spaced  '];
    await page.sse('bytes', `${h.url}/sse?channel=${p}:bytes&channel=${p}j:events`, ['post.deleted', 'reset']);
    await page.until('bytes', 'open', 1);
    for (const payload of payloads) await pub.publish(`${p}:bytes`, payload);
    await pub.publish(`${p}:bytes`, 'crlf\r\nline');
    await pub.publish(`${p}j:events`, '{"event":"post.deleted","id":7,"title":"é"}');
    await pub.publish(`${p}j:events`, '{"n":1}');
    const log = await page.until('bytes', 'message', payloads.length + 2);
    await page.close('bytes');
    const messages = of(log, 'message');
    t.same(messages.map((e) => e.data), [...payloads, 'crlf\nline', '{"n":1}'], 'same bytes (CRLF as LF, documented)');
    t.same(of(log, 'post.deleted').map((e) => e.data), ['{"event":"post.deleted","id":7,"title":"é"}'], 'addEventListener(name) got it');
    const ids = log.filter((e) => e.kind === 'message' || e.kind === 'post.deleted').map((e) => e.id as string);
    t.ok(ids.every((id) => ID.test(id)), 'lastEventId is set on every event');
    t.equal(new Set(ids).size, ids.length, 'ids are distinct across both channels');
    t.same(of(log, 'reset'), [], 'no reset');
    t.same(of(log, 'error'), [], 'no error');
  });

  t.test('native reconnect after the lifetime resumes with Last-Event-ID: every message once, in order', async (t) => {
    const ch = `${p}:reconnect`;
    const sent: string[] = [];
    let n = 0;
    // ioredis sends commands in call order on one connection, so `sent` is the publish order.
    const send = (): Promise<number> => {
      const m = `m${n++}`;
      sent.push(m);
      return pub.publish(ch, m);
    };
    const gapBursts: { burst: string[]; stateAfter: number }[] = [];
    // Called by the page the moment its EventSource drops to CONNECTING: publish while it is
    // away, then check it was still away once Redis had taken the messages.
    await page.page.exposeFunction('betweenStreams', async () => {
      const first = n;
      await Promise.all([send(), send(), send()]);
      gapBursts.push({ burst: sent.slice(first, first + 3), stateAfter: await page.state('rc') });
    });
    await page.sse('rc', `${h.url}/sse?channel=${ch}&client=quick`, ['reset']);
    await page.until('rc', 'open', 1);
    const steady = setInterval(() => void send(), 20);
    try {
      await page.until('rc', 'open', 3, 10_000); // two lifetimes ended and the browser came back twice
    } finally {
      clearInterval(steady);
    }
    await send();
    const log = await page.until('rc', 'message', sent.length, 5000);
    await page.close('rc');
    const got = of(log, 'message').map((e) => e.data as string);
    t.equal(got.length, sent.length, 'nothing lost, nothing twice');
    t.same(got, sent, 'same order, gap-free, duplicate-free');
    t.ok(gapBursts.length >= 2, `published in ${gapBursts.length} gaps between streams`);
    t.ok(gapBursts.every((g) => g.stateAfter === 0), 'each burst was in Redis while the EventSource was still CONNECTING');
    const errors = of(log, 'error');
    t.ok(errors.length >= 2 && errors.every((e) => e.state === 0), 'each end was a reconnectable error (CONNECTING), never CLOSED');
    t.same(of(log, 'reset'), [], 'no reset: the browser presented its Last-Event-ID itself');
    // The burst of each gap arrives after the reopen, so it came from the replay of the new stream.
    const order = log.filter((e) => e.kind === 'open' || e.kind === 'message').map((e) => (e.kind === 'open' ? '<open>' : e.data));
    gapBursts.slice(0, 2).forEach(({ burst }, i) => {
      const at = order.indexOf(burst[0]!);
      t.equal(order.slice(0, at).filter((x) => x === '<open>').length, i + 2, `${burst[0]} replayed at the start of stream ${i + 2}`);
    });
    t.ok(metricValue(await scrape(h.url), 'herald_connections_closed_total', 'transport="sse",reason="lifetime"') >= 2, 'ended by lifetime');
  });

  t.test('WebSocket from the page: subscribe frame, messages, then resume with since after reopening', async (t) => {
    const ch = `${p}:ws`;
    // An observer on the same channel: shows when Herald has each message, and keeps coverage.
    await page.sse('obs', `${h.url}/sse?channel=${ch}`);
    await page.until('obs', 'open', 1);
    await page.ws('ws1', `${h.wsUrl}/ws`, [{ type: 'subscribe', channel: ch, id: 'r1' }]);
    const opened = await page.until('ws1', 'frame', 1);
    const subscribed = (of(opened, 'frame')[0] as WsFrameEntry).frame;
    t.match(subscribed, { type: 'subscribed', channel: ch, id: 'r1' });
    for (const m of ['w1', 'w2 ✓\nline']) await pub.publish(ch, m);
    const first = of(await page.until('ws1', 'frame', 3), 'frame').map((e) => (e as WsFrameEntry).frame).slice(1);
    t.same(first.map((f) => [f.type, f.channel, f.data]), [['message', ch, 'w1'], ['message', ch, 'w2 ✓\nline']]);
    const last = first[1]!.id!;
    t.match(last, ID);

    await page.close('ws1');
    await page.until('ws1', 'close', 1);
    for (const m of ['w3', 'w4', 'w5']) await pub.publish(ch, m);
    await page.until('obs', 'message', 5);

    await page.ws('ws2', `${h.wsUrl}/ws`, [{ type: 'subscribe', channel: ch, since: last, id: 'r2' }]);
    await page.until('ws2', 'frame', 4);
    await pub.publish(ch, 'w6');
    const frames = of(await page.until('ws2', 'frame', 5), 'frame').map((e) => (e as WsFrameEntry).frame);
    await page.close('ws2');
    // w6 can reach the WebSocket before the observer's stream: wait for it there too.
    const observed = of(await page.until('obs', 'message', 6), 'message');
    await page.close('obs');
    t.same(frames.map((f) => (f.type === 'message' ? f.data : f.type)), ['w3', 'w4', 'w5', 'subscribed', 'w6'], 'missed messages replayed before subscribed, then live');
    t.same(frames.filter((f) => f.type === 'message').map((f) => f.id), observed.slice(2).map((e) => e.id), 'same ids as the SSE observer');
  });

  t.test('fetch long-poll loop in the page follows the cursor: every message once, in order', async (t) => {
    const ch = `${p}:poll`;
    const wanted = 24;
    await page.pollLoop('poll', `${h.url}/poll?channel=${ch}&client=quick`, wanted);
    await page.until('poll', 'poll', 1); // the first answer (empty, after the hold) carries the head cursor
    const sent: string[] = [];
    for (let i = 0; i < wanted; i++) {
      sent.push(`p${i}`);
      await pub.publish(ch, `p${i}`);
      await new Promise((r) => setTimeout(r, 10)); // a steady rate, so answers cut the stream at varying places
    }
    const log = await page.until('poll', 'done', 1, 10_000);
    t.same(of(log, 'failed'), []);
    const answers = of(log, 'poll') as PollEntry[];
    t.ok(answers.every((a) => a.status === 200 && a.body.reset === undefined), 'all 200, no reset');
    const messages = answers.flatMap((a) => a.body.messages);
    t.same(messages.map((m) => m.data), sent, 'gap-free, duplicate-free, in order');
    t.equal(new Set(messages.map((m) => m.id)).size, messages.length, 'ids are distinct');
    t.ok(answers.filter((a) => a.body.messages.length > 0).length >= wanted / 4, `several polls carried messages (${answers.length} answers)`);
    t.ok(answers.every((a) => a.body.messages.length <= 4), 'pollBatchSize respected');
  });

  t.test('CORS: a page from an origin not in cors.origins is refused on every transport', async (t) => {
    const other = await PageHarness.open(t, browser, denied.origin);
    const ch = `${p}:cors`;
    await other.sse('es', `${h.url}/sse?channel=${ch}`);
    const es = await other.until('es', 'error', 1);
    t.same(of(es, 'open'), [], 'EventSource never opened');
    t.equal(of(es, 'error')[0]!.state, 2, 'EventSource is CLOSED (CORS failure is fatal)');

    const fetched = await other.tryFetch(`${h.url}/poll?channel=${ch}&client=quick`);
    t.match(fetched, { ok: false, name: 'TypeError' }, 'fetch to /poll rejects with the CORS network error');
    t.match(await page.tryFetch(`${h.url}/poll?channel=${ch}&client=quick`), { ok: true, status: 200 }, 'the allowed origin can read it');
    const error = await page.tryFetch(`${h.url}/poll?channel=nobody:x`);
    t.match(error, { ok: true, status: 403 }, 'the allowed origin can read an error answer');
    t.match(JSON.parse(error.body ?? '{}'), { error: { code: 'channel_denied' } });
    // A JSON content type makes this a non-simple request: the browser sends a preflight first.
    const published = await page.tryFetch(`${h.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: ch, data: 'from the page' }),
    });
    t.match(published, { ok: true }, 'preflighted POST /publish passes CORS');
    t.ok(published.status !== undefined && published.status < 300, `POST /publish answered ${published.status}: ${published.body}`);
    t.match(await other.tryFetch(`${h.url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), { ok: false, name: 'TypeError' }, 'the preflight fails for the other origin');

    await other.ws('ws', `${h.wsUrl}/ws?channel=${ch}`);
    const ws = await other.until('ws', 'close', 1);
    t.same(of(ws, 'open'), [], 'WebSocket never opened');
    t.equal(of(ws, 'close')[0]!.code, 1006, 'closed abnormally: the upgrade was refused');
    await t.rejects(WsClient.open(`${h.wsUrl}/ws`, { origin: denied.origin }), /HTTP 403/, 'Herald answered the upgrade with 403');
    await other.close('es');
  });

  t.test('an error status before the stream is fatal to EventSource, and the page can tell', async (t) => {
    await page.sse('denied', `${h.url}/sse?channel=nobody:x`);
    const log = await page.until('denied', 'error', 1);
    t.same(of(log, 'open'), []);
    t.equal(of(log, 'error')[0]!.state, 2, 'CLOSED: no reconnect loop against channel_denied');
    const answer = await page.tryFetch(`${h.url}/sse?channel=nobody:x`);
    t.match(answer, { ok: true, status: 403 }, 'the same request through fetch shows the status (CORS headers on errors)');
    t.match(JSON.parse(answer.body ?? '{}'), { error: { code: 'channel_denied' } });
  });
}
