import t from 'tap';
import { CHROMIUM_PATH, chromiumAvailable, launchBrowser } from '../helpers/browser.js';
import { ClientPage, firstBreak, steadyPublisher } from '../helpers/client-page.js';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { hsToken, TEST_SECRET } from '../helpers/tokens.js';

// Tokens in the browser client: short-lived tokens are replaced through getToken() before
// they expire, and a token Herald refuses as expired is replaced at once; the subscription
// goes on from its position, so nothing is lost or repeated, on every transport.

const TRANSPORTS = ['ws', 'stream', 'poll'] as const;

const publisher = (url: string, channel: string) => (data: string) =>
  fetch(`${url}/publish`, { method: 'POST', body: JSON.stringify({ channel, data }) }).then((r) => {
    if (!r.ok) throw new Error(`publish answered ${r.status}`);
  });

/** A token valid for `seconds` from now (JWT `exp` has whole seconds). */
const tokenFor = (seconds: number): Promise<string> => hsToken({ sub: 'u1' }, Math.floor(Date.now() / 1000) + seconds);

if (!chromiumAvailable()) {
  t.plan(0, `no Chromium at ${CHROMIUM_PATH}: browser client tests skipped (CI installs the chromium package)`);
} else {
  const browser = await launchBrowser(t);
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
channels:
  - { pattern: "${p}:{name}", access: token, history: { size: 1000, maxAge: 1m } }
jwt: { algorithms: [HS256], secret: "${TEST_SECRET}" }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 1s, heartbeat: 25s, idle: 120s }
cors: { origins: ["*"] }
log: { level: warn }
`,
  });

  t.test('tokens that expire mid-stream are refreshed through getToken() with no loss and no duplicate', async (t) => {
    let minted = 0;
    const page = await ClientPage.open(t, browser, h.url, () => {
      minted++;
      return tokenFor(3);
    });
    for (const tr of TRANSPORTS) {
      await page.start(tr, { url: h.url, channels: [`${p}:${tr}`], getToken: true, options: { token: await tokenFor(3), transports: [tr] } });
    }
    for (const tr of TRANSPORTS) await page.live(tr);
    const pubs = TRANSPORTS.map((tr) => steadyPublisher(publisher(h.url, `${p}:${tr}`), 30));
    // Each first token lives 2-3 s and is replaced ~0.75 s before its exp: wait for two refreshes each.
    for (const tr of TRANSPORTS) await page.until(tr, 'log.tokenCalls >= 2', 15_000);
    const sent = await Promise.all(pubs.map((x) => x.stop()));
    for (const [i, tr] of TRANSPORTS.entries()) {
      const rec = await page.until(tr, `log.msgs.length > 0 && log.msgs.at(-1).d === '${sent[i]! - 1}'`);
      const values = rec.msgs.map((m) => m.d);
      t.equal(values[0], '0', `${tr}: from the first message`);
      t.equal(firstBreak(values), null, `${tr}: ${values.length} messages across ${rec.tokenCalls} token refreshes, consecutive`);
      t.same(rec.errors, [], `${tr}: no error reached the app`);
      t.same(rec.resets, [], `${tr}: no reset`);
      await page.close(tr);
    }
    t.ok(minted >= 6, `${minted} tokens minted`);
  });

  t.test('a stream whose token ends before its first message: the refreshed stream resumes where the first began', async (t) => {
    // getToken() is held until a message has been published after the first stream ended: the
    // new stream must start from the first one's position (its subscribed line), or that
    // message is lost without a reset (what a fresh reconnect at the new head did).
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const page = await ClientPage.open(t, browser, h.url, async () => {
      await gate;
      return tokenFor(60);
    });
    const channel = `${p}:early-end`;
    await page.start('stream', { url: h.url, channels: [channel], getToken: true, options: { token: await tokenFor(2), transports: ['stream'] } });
    await page.live('stream');
    await page.until('stream', "log.states.some((s) => s.startsWith('reconnecting:'))", 10_000);
    t.same((await page.record('stream')).msgs, [], 'the first stream ended with no message');
    await publisher(h.url, channel)('in the gap');
    release();
    const rec = await page.until('stream', 'log.msgs.length > 0');
    t.same(rec.msgs.map((m) => m.d), ['in the gap'], 'the message published while the token was refreshed');
    t.same(rec.resets, [], 'no reset');
    t.same(rec.errors, [], 'no error reached the app');
  });

  t.test('a client whose clock is behind: Herald ends the token (token_expired) and getToken() replaces it at once, no loss', async (t) => {
    const page = await ClientPage.open(t, browser, h.url, () => tokenFor(2));
    // The page believes it is 100 s earlier: its tokens look good for 100 s more, so it never
    // refreshes ahead of time, and each token ends on Herald's side first.
    await page.page.evaluate(() => {
      const real = Date.now;
      Date.now = () => real() - 100_000;
    });
    for (const tr of TRANSPORTS) {
      await page.start(tr, { url: h.url, channels: [`${p}:skew-${tr}`], getToken: true, options: { token: await tokenFor(2), transports: [tr], retryMs: 60_000 } });
    }
    for (const tr of TRANSPORTS) await page.live(tr);
    const pubs = TRANSPORTS.map((tr) => steadyPublisher(publisher(h.url, `${p}:skew-${tr}`), 30));
    for (const tr of TRANSPORTS) await page.until(tr, 'log.tokenCalls >= 2', 15_000);
    const sent = await Promise.all(pubs.map((x) => x.stop()));
    for (const [i, tr] of TRANSPORTS.entries()) {
      // A backoff (retryMs 60 s) after token_expired would have timed this out.
      const rec = await page.until(tr, `log.msgs.length > 0 && log.msgs.at(-1).d === '${sent[i]! - 1}'`);
      const values = rec.msgs.map((m) => m.d);
      t.equal(values[0], '0', `${tr}: from the first message`);
      t.equal(firstBreak(values), null, `${tr}: ${values.length} messages across ${rec.tokenCalls} token_expired refreshes, consecutive`);
      t.same(rec.errors, [], `${tr}: the token errors did not reach the app`);
      t.same(rec.resets, [], `${tr}: no reset`);
      await page.close(tr);
    }
  });
}
