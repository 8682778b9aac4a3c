import t from 'tap';
import { CHROMIUM_PATH, chromiumAvailable, launchBrowser } from '../helpers/browser.js';
import { ClientPage, firstBreak, steadyPublisher } from '../helpers/client-page.js';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { startFailover } from '../helpers/proxy.js';
import { redisWithPublisher } from '../helpers/redis.js';

// A drain moves the browser client to another Herald process at once (no backoff), on every
// transport, with no duplicate. Two processes share one Redis behind a forwarder that sends
// each new connection to the first process that accepts it. Whether the move replays or
// resets depends on whether the other process can place the position (issue 10 makes it
// replay): both are checked exactly — a replay must lose nothing, a reset must be reported
// through onReset, and either way nothing arrives twice.

const TRANSPORTS = ['ws', 'stream', 'poll'] as const;

if (!chromiumAvailable()) {
  t.plan(0, `no Chromium at ${CHROMIUM_PATH}: browser client tests skipped (CI installs the chromium package)`);
} else {
  const { redisUrl, pub } = await redisWithPublisher(t);
  const browser = await launchBrowser(t);
  const p = uniquePrefix();
  const config = `
broker: { type: redis, url: "${redisUrl}", linger: 5s }
channels:
  - { pattern: "${p}:{name}", access: public, history: { size: 1000, maxAge: 1m } }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 1s, heartbeat: 25s, idle: 120s }
cors: { origins: ["*"] }
drain: { window: 300ms, deadline: 5s }
log: { level: warn }
`;
  const a = await startHerald(t, { config });
  const b = await startHerald(t, { config });
  const front = await startFailover(t, [a.port, b.port]);

  t.test('SIGTERM on the process a client is on: it reconnects at once to the other, nothing twice', async (t) => {
    const page = await ClientPage.open(t, browser, a.url);
    for (const tr of TRANSPORTS) {
      // B's own subscribers keep it covering every channel, as a real second process would.
      await page.start(`b-${tr}`, { url: b.url, channels: [`${p}:${tr}`], options: { transports: [tr] } });
      // retryMs 60 s: a backoff anywhere would time this test out.
      await page.start(tr, { url: front.url, channels: [`${p}:${tr}`], options: { transports: [tr], retryMs: 60_000 } });
    }
    for (const tr of TRANSPORTS) await page.live(tr);
    for (const tr of TRANSPORTS) await page.live(`b-${tr}`);
    const pubs = TRANSPORTS.map((tr) => steadyPublisher((m) => pub.publish(`${p}:${tr}`, m), 30));
    for (const tr of TRANSPORTS) await page.until(tr, 'log.msgs.length >= 5');
    const code = await a.stop('SIGTERM');
    t.equal(code, 0, 'A drained and exited cleanly');
    // WS (1012) and the stream (`reconnect` line) reconnect; a poll is answered and the next one lands on B.
    for (const tr of TRANSPORTS.slice(0, 2)) await page.live(tr, 2, 10_000);
    const counts = await Promise.all(TRANSPORTS.map(async (tr) => (await page.record(tr)).msgs.length));
    for (const [i, tr] of TRANSPORTS.entries()) await page.until(tr, `log.msgs.length >= ${counts[i]! + 5}`);
    const sent = await Promise.all(pubs.map((x) => x.stop()));
    for (const [i, tr] of TRANSPORTS.entries()) {
      const rec = await page.until(tr, `log.msgs.length > 0 && log.msgs.at(-1).d === '${sent[i]! - 1}'`);
      const values = rec.msgs.map((m) => m.d);
      t.equal(new Set(values).size, values.length, `${tr}: no message twice (${values.length} received)`);
      t.ok(rec.resets.length <= 1, `${tr}: at most one reset: ${JSON.stringify(rec.resets)}`);
      if (rec.resets.length === 0) {
        t.equal(firstBreak(values), null, `${tr}: replayed on B: consecutive across the move: ${values.join(",")} ${rec.msgs.map((m) => m.id).join(",")}`);
      } else {
        const at = rec.resets[0]!.at;
        t.equal(firstBreak(values.slice(0, at)), null, `${tr}: consecutive before the move (${at} messages)`);
        t.equal(firstBreak(values.slice(at)), null, `${tr}: consecutive after the reset (${rec.resets[0]!.r}), to the last message`);
      }
      t.same(rec.errors, [], `${tr}: no error`);
      if (tr !== 'poll') t.ok(rec.states.includes(`reconnecting:${tr}`), `${tr}: ${rec.states.join(' ')}`);
      await page.close(tr);
      await page.close(`b-${tr}`);
    }
  });
}
