import t, { type Test } from 'tap';
import { CHROMIUM_PATH, chromiumAvailable, launchBrowser } from '../helpers/browser.js';
import { ClientPage, firstBreak, steadyPublisher } from '../helpers/client-page.js';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { startProxy } from '../helpers/proxy.js';

// The browser client behind proxies that break transports: one refuses WebSocket upgrades
// (→ the HTTP stream), one holds responses until they end (→ long-poll). Each fallback is
// proven by messages arriving, exactly once, over the transport it fell back to.

const publisher = (url: string, channel: string) => (data: string) =>
  fetch(`${url}/publish`, { method: 'POST', body: JSON.stringify({ channel, data }) }).then((r) => {
    if (!r.ok) throw new Error(`publish answered ${r.status}`);
  });

if (!chromiumAvailable()) {
  t.plan(0, `no Chromium at ${CHROMIUM_PATH}: browser client tests skipped (CI installs the chromium package)`);
} else {
  const browser = await launchBrowser(t);
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
channels:
  - { pattern: "${p}:{name}", access: public, history: { size: 1000, maxAge: 1m } }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 2s, heartbeat: 25s, idle: 120s }
cors: { origins: ["*"] }
log: { level: warn }
`,
  });

  async function receives(t: Test, page: ClientPage, key: string, channel: string, transport: string): Promise<void> {
    const pub = steadyPublisher(publisher(h.url, channel), 30);
    await page.until(key, 'log.msgs.length >= 10');
    const sent = await pub.stop();
    const rec = await page.until(key, `log.msgs.at(-1).d === '${sent - 1}'`);
    const values = rec.msgs.map((m) => m.d);
    t.equal(firstBreak(values), null, `${values.length} messages, consecutive to ${sent - 1}`);
    t.ok(rec.msgs.every((m) => m.t === transport), `all over ${transport}`);
    t.same(rec.resets, [], 'no reset');
  }

  t.test('a proxy that refuses WebSocket upgrades: the client falls back to the HTTP stream, and remembers it', async (t) => {
    const proxy = await startProxy(t, h.port, 'refuse-upgrades');
    const page = await ClientPage.open(t, browser, h.url);
    await page.start('a', { url: proxy.url, channels: [`${p}:refused`] });
    const rec = await page.live('a');
    t.ok(proxy.upgradesRefused >= 1, 'the WebSocket was tried and refused');
    t.same(rec.states, ['live:stream'], 'live on the stream, never on ws');
    await receives(t, page, 'a', `${p}:refused`, 'stream');
    // A second client in the same tab session starts on what worked.
    const refused = proxy.upgradesRefused;
    await page.start('b', { url: proxy.url, channels: [`${p}:refused2`] });
    t.same((await page.live('b')).states, ['live:stream']);
    t.equal(proxy.upgradesRefused, refused, 'the second client did not try WebSocket again (sessionStorage)');
    await receives(t, page, 'b', `${p}:refused2`, 'stream');
    await page.close('a');
    await page.close('b');
  });

  t.test('a proxy that buffers responses until they end: no stream opens in time, long-poll works', async (t) => {
    const proxy = await startProxy(t, h.port, 'buffer');
    const page = await ClientPage.open(t, browser, h.url);
    await page.start('c', { url: proxy.url, channels: [`${p}:buffered`], options: { openTimeoutMs: 1500 } });
    const rec = await page.live('c', 1, 15_000);
    t.same(rec.states, ['live:poll'], 'live on poll');
    t.ok(proxy.upgradesRefused >= 1, 'WebSocket refused');
    t.ok((proxy.requests.get('/stream') ?? 0) >= 1, 'the stream was tried (and held back by the proxy)');
    await receives(t, page, 'c', `${p}:buffered`, 'poll');
    t.ok((proxy.requests.get('/poll') ?? 0) >= 2, `messages came through ${proxy.requests.get('/poll')} polls`);
    await page.close('c');
  });
}
