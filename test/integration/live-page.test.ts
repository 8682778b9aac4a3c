import { mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createServer } from 'node:http';
import { CHROMIUM_PATH, chromiumAvailable, launchBrowser } from '../helpers/browser.js';
import { startHerald } from '../helpers/herald.js';

// The first minute: Herald on the shipped config/herald.yaml serves the live page at GET /,
// which subscribes with /client.js, publishes a test message through POST /publish and shows
// it with its transport, id and latency — on each transport the page can force.
// UPDATE_SCREENSHOTS=1 writes the screenshot to docs/images/live-page.png (README, docs/client.md).

const SHIPPED = fileURLToPath(new URL('../../config/herald.yaml', import.meta.url));
const DOCS_PAGE = fileURLToPath(new URL('../../docs/client.md', import.meta.url));
const DOCS_SHOT = fileURLToPath(new URL('../../docs/images/live-page.png', import.meta.url));

t.test('GET /client.js: cacheable, ETag, 304 on If-None-Match, loadable from any origin', async (t) => {
  const h = await startHerald(t, { config: readFileSync(SHIPPED, 'utf8') });
  const res = await fetch(`${h.url}/client.js`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/javascript/);
  t.match(res.headers.get('cache-control'), /max-age=\d+/);
  t.equal(res.headers.get('access-control-allow-origin'), '*');
  const etag = res.headers.get('etag')!;
  t.match(etag, /^"[\w-]+"$/);
  t.match(await res.text(), /export\{/, 'an ES module');
  const again = await fetch(`${h.url}/client.js`, { headers: { 'if-none-match': etag } });
  t.equal(again.status, 304);
  t.equal(await again.text(), '');
  t.equal((await fetch(`${h.url}/client.js`, { headers: { 'if-none-match': `W/${etag}, "other"` } })).status, 304, 'weak comparison in a list');
  t.equal((await fetch(`${h.url}/client.js`, { headers: { 'if-none-match': '"stale"' } })).status, 200);
  const page = await fetch(`${h.url}/`);
  t.equal(page.status, 200, 'the shipped config enables the live page');
  t.match(page.headers.get('content-type'), /^text\/html/);
});

t.test('GET / is not served unless livePage.enabled', async (t) => {
  const h = await startHerald(t);
  t.equal((await fetch(`${h.url}/`)).status, 404);
  t.equal((await fetch(`${h.url}/client.js`)).status, 200, '/client.js is always served');
});

if (!chromiumAvailable()) {
  t.comment(`no Chromium at ${CHROMIUM_PATH}: the live page browser test is skipped (CI installs the chromium package)`);
} else {
  t.test('the live page: subscribe, publish, see the message with transport, id and latency, on each transport', async (t) => {
    const h = await startHerald(t, { config: readFileSync(SHIPPED, 'utf8') });
    const browser = await launchBrowser(t);
    const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(`${h.url}/`);
    const state = page.locator('#state');
    const rows = page.locator('#messages tr.message');
    for (const [i, transport] of (['ws', 'stream', 'poll'] as const).entries()) {
      if (i > 0) await page.selectOption('#transport', transport);
      await page.waitForFunction(`document.getElementById('state').textContent === 'live · ${transport}'`, undefined, { timeout: 15_000 });
      await page.fill('#text', `hello over ${transport}`);
      await page.click('#publish');
      await rows.nth(i).waitFor({ timeout: 15_000 });
      const cells = await rows.first().locator('td').allTextContents();
      t.equal(cells[1], 'public:demo', `${transport}: channel`);
      t.equal(cells[2], transport, `${transport}: transport column`);
      t.match(cells[3], /\S/, `${transport}: id shown`);
      t.match(cells[4], /^\d+ ms$/, `${transport}: latency shown (${cells[4]})`);
      t.match(cells[5], new RegExp(`"text":"hello over ${transport}"`), `${transport}: the published data`);
      t.match(await page.locator('#pub-result').textContent(), /published to 1 receiver/);
    }
    t.equal(await state.getAttribute('class'), 'live');
    t.equal(await rows.count(), 3, 'one row per publish: nothing repeated across the transport switches');
    const dir = process.env.UPDATE_SCREENSHOTS === '1' ? join(DOCS_SHOT, '..') : mkdtempSync(join(tmpdir(), 'herald-shot-'));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'live-page.png');
    await page.screenshot({ path: file });
    t.ok(statSync(file).size > 10_000, `screenshot written to ${file}`);
  });

  t.test('docs/client.md: the plain page example runs as written (Herald URL swapped for the test one)', async (t) => {
    const h = await startHerald(t, { config: readFileSync(SHIPPED, 'utf8').replace('livePage:', 'cors: { origins: ["*"] }\nlivePage:') });
    const html = /```html\n([\s\S]*?)```/.exec(readFileSync(DOCS_PAGE, 'utf8'))![1]!.replaceAll('http://127.0.0.1:8080', h.url);
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise((resolve) => server.close(resolve)));
    const browser = await launchBrowser(t);
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    const live = page.waitForEvent('console', { predicate: (m) => m.text() === 'herald live ws', timeout: 10_000 });
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/page.html`);
    await live;
    t.pass('the page logged: herald live ws');
    const res = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel: 'public:news', data: 'hello' }) });
    t.equal(res.status, 200);
    await page.locator('#log li').first().waitFor({ timeout: 10_000 });
    t.match(await page.locator('#log li').first().textContent(), /^public:news \S+: hello$/);
  });
}
