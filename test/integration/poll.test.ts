import t from 'tap';
import type { Test } from 'tap';
import { poll, WsClient } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { POSITION, tagOf } from '../helpers/positions.js';

const { redisUrl, pub } = await redisWithPublisher(t);

function config(prefix: string): string {
  return `
broker: { type: redis, url: "${redisUrl}", linger: 2s }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 500, maxAge: 1m } }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 20s, heartbeat: 25s, idle: 120s }
    - { name: tiny, lifetime: 300s, pollHold: 300ms, heartbeat: 25s, idle: 120s }
limits: { pollBatchSize: 7 }
cors: { origins: ["https://ok.example"] }
log: { level: warn }
`;
}

/**
 * Publishes `data` on `ch` while a WebSocket keeps the channel covered (nobody polls yet), and
 * returns the position before the first of them, once all are in Herald's history.
 */
async function publishCovered(t: Test, wsUrl: string, ch: string, data: readonly string[]): Promise<string> {
  const ws = await WsClient.open(`${wsUrl}/ws?channel=${ch}`);
  t.teardown(() => ws.close());
  const start = (await ws.next((f) => f.type === 'subscribed')).position!;
  for (const d of data) await pub.publish(ch, d);
  await ws.waitForMessages(data.length);
  return start;
}

t.test('200 consecutive polls under a steady publish rate get every message once, in order', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:loop`;
  // First poll without a cursor: held at the newest position, answered empty after the hold.
  const first = await poll(h.url, [ch], { client: 'tiny' });
  t.same(first.body.messages, []);
  let cursor = first.body.cursor;
  let polls = 0;
  let published = 0;
  let stop = false;
  const sent: string[] = [];
  const publisher = (async () => {
    while (!stop) {
      const m = `m${published++}`;
      sent.push(m);
      await pub.publish(ch, m);
      await new Promise((r) => setTimeout(r, 4));
    }
  })();
  const got: string[] = [];
  const ids: string[] = [];
  while (polls < 200) {
    const a = await poll(h.url, [ch], { cursor, client: 'tiny' });
    polls++;
    if (a.status !== 200) t.fail(`poll ${polls}: HTTP ${a.status}`);
    if (a.body.reset !== undefined) t.fail(`unexpected reset ${JSON.stringify(a.body.reset)}`);
    for (const m of a.body.messages) {
      got.push(m.data as string);
      ids.push(m.id);
    }
    cursor = a.body.cursor;
    if (polls === 200) stop = true;
  }
  await publisher;
  // Drain what was published while the loop ended.
  while (got.length < sent.length) {
    const a = await poll(h.url, [ch], { cursor, client: 'tiny' });
    for (const m of a.body.messages) got.push(m.data as string);
    cursor = a.body.cursor;
  }
  t.ok(sent.length > 50, `published ${sent.length} messages during the loop`);
  t.same(got, sent, 'every message exactly once, in order');
  t.equal(new Set(ids).size, ids.length, 'no duplicate ids');
});

t.test('hold time honours the client class; headers; empty answer carries the head cursor', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:hold`;
  const a = await poll(h.url, [ch], { client: 'tiny', headers: { Origin: 'https://ok.example' } });
  t.ok(a.elapsedMs >= 290, `held ${Math.round(a.elapsedMs)}ms ≥ 300ms`);
  t.ok(a.elapsedMs < 5000, 'loosely bounded');
  t.equal(a.headers.get('cache-control'), 'no-store');
  t.equal(a.headers.get('access-control-allow-origin'), 'https://ok.example');
  t.match(a.headers.get('content-type'), /application\/json/);
  t.match(a.body.cursor, POSITION);
  // A message published while held answers at once (well before the desktop class's 20s).
  const held = poll(h.url, [ch], { cursor: a.body.cursor });
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 1, { timeoutMs: 5000, what: 'poll held' });
  await pub.publish(ch, 'x');
  const b = await held;
  t.same(b.body.messages.map((m) => [m.channel, m.data]), [[ch, 'x']]);
  t.equal(tagOf(b.body.cursor), tagOf(a.body.cursor));
  t.equal(b.body.cursor, b.body.messages[0]!.id, 'cursor at the head, which is the message');
});

t.test('history after the cursor is answered at once, cut at pollBatchSize', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:batch`;
  const start = await publishCovered(t, h.wsUrl, ch, Array.from({ length: 10 }, (_, i) => `h${i}`));
  const a = await poll(h.url, [ch], { cursor: start });
  t.same(a.body.messages.map((m) => m.data), ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
  t.equal(a.body.cursor, a.body.messages[6]!.id, 'cursor is the last one sent');
  const b = await poll(h.url, [ch], { cursor: a.body.cursor });
  t.same(b.body.messages.map((m) => m.data), ['h7', 'h8', 'h9']);
});

t.test('a poll answered at once (replay or reset) is a whole answer: CORS, counted, nothing left held, the connection reusable', async (t) => {
  // Such a poll is written before its request handler returns, without a hold or an
  // abort handler (PollTransport.accept); everything a held poll's answer has, it must have.
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:now`;
  const start = await publishCovered(t, h.wsUrl, ch, ['n0', 'n1', 'n2']);
  const headers = { origin: 'https://ok.example' };
  // fetch keeps one connection alive across these: each answer must have ended its response.
  for (let round = 0; round < 20; round++) {
    const a = await poll(h.url, [ch], { cursor: start, headers });
    t.same(a.body.messages.map((m) => m.data), ['n0', 'n1', 'n2'], `round ${round}: the replay`);
    t.equal(a.headers.get('access-control-allow-origin'), 'https://ok.example');
    const r = await poll(h.url, [ch], { cursor: 'zzzzother:1', headers });
    t.same(r.body.reset, [{ channel: ch, reason: 'epoch' }]);
    t.equal(r.headers.get('access-control-allow-origin'), 'https://ok.example');
  }
  const m = await scrape(h.url);
  t.equal(metricValue(m, 'herald_poll_holds_total', 'outcome="message"'), 20);
  t.equal(metricValue(m, 'herald_poll_holds_total', 'outcome="reset"'), 20);
  t.equal(metricValue(m, 'herald_messages_delivered_total', 'transport="poll"'), 60);
  t.equal(metricValue(m, 'herald_polls_held'), 0);
  t.ok(!(metricValue(m, 'herald_connections_open', 'transport="poll"') > 0), 'no poll connection counted open');
  // And a poll at the head is still held, then answered by the next message.
  const head = (await poll(h.url, [ch], { cursor: start })).body.cursor;
  const held = poll(h.url, [ch], { cursor: head });
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 1, { timeoutMs: 5000, what: 'one held poll' });
  await pub.publish(ch, 'later');
  t.same((await held).body.messages.map((m) => m.data), ['later']);
});

t.test('cursor from another epoch or malformed: explicit reset, answered at once', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:r`;
  const a = await poll(h.url, [ch], { cursor: 'zzzzother:12' });
  t.same(a.body.reset, [{ channel: ch, reason: 'epoch' }]);
  t.same(a.body.messages, []);
  t.ok(a.elapsedMs < 5000);
  const b = await poll(h.url, [ch], { cursor: 'garbage' });
  t.same(b.body.reset, [{ channel: ch, reason: 'invalid' }]);
  const c = await poll(h.url, []);
  t.equal(c.status, 400);
  t.equal((c.body as unknown as { error: { code: string } }).error.code, 'channel_required');
});

t.test('aborted polls leave no waiter behind', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const controllers = Array.from({ length: 5 }, () => new AbortController());
  const pending = controllers.map((c, i) => poll(h.url, [`${p}:ab${i}`], { signal: c.signal }).catch((err: Error) => err.name));
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 5, { timeoutMs: 5000, what: '5 polls held' });
  t.equal(metricValue(await scrape(h.url), 'herald_connections_open', 'transport="poll"'), 5);
  for (const c of controllers) c.abort();
  t.same(await Promise.all(pending), Array(5).fill('AbortError'));
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 0, { timeoutMs: 5000, what: 'no poll held' });
  const m = await scrape(h.url);
  t.equal(metricValue(m, 'herald_poll_holds_total', 'outcome="aborted"'), 5);
  t.ok(!(metricValue(m, 'herald_connections_open', 'transport="poll"') > 0), 'no poll connection counted');
});

t.test('herald_messages_delivered_total{transport="poll"} counts each message once per poller it answered', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:count`;
  const delivered = async (): Promise<number> => metricValue(await scrape(h.url), 'herald_messages_delivered_total', 'transport="poll"');
  // A cursor that is no position is answered at once (reset, no message) with the head.
  const { cursor } = (await poll(h.url, [ch], { cursor: 'start' })).body;
  // Three pollers held on the channel, answered by one message in one pass.
  const held = [0, 1, 2].map(() => poll(h.url, [ch], { cursor }));
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 3, { timeoutMs: 5000, what: 'three held polls' });
  await pub.publish(ch, 'one');
  const answers = await Promise.all(held);
  t.same(answers.map((a) => a.body.messages.length), [1, 1, 1]);
  t.equal(await delivered(), 3, 'one message × three pollers');
  // A poll behind two messages is answered at once from history: two more.
  await pub.publish(ch, 'two');
  await pub.publish(ch, 'three');
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_messages_received_total') === 3, { timeoutMs: 5000, what: 'both messages in history' });
  const replay = await poll(h.url, [ch], { cursor: answers[0]!.body.cursor });
  t.same(replay.body.messages.map((m) => m.data), ['two', 'three']);
  t.equal(await delivered(), 5);
});

t.test('polls answered back to back from history each get their own run of messages (shared bodies only when identical)', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:runs`;
  const other = `${p}:runs-other`;
  const start = await publishCovered(t, h.wsUrl, ch, ['r0', 'r1', 'r2', 'r3']);
  const ids = (await poll(h.url, [ch], { cursor: start })).body.messages.map((m) => m.id);
  t.equal(ids.length, 4);
  // Concurrent polls with different cursors, and two pairs with the same one: answered in
  // one turn from history, one after another.
  const cursors = [start, ids[0]!, ids[0]!, ids[1]!, start, ids[2]!];
  const answers = await Promise.all(cursors.map((cursor) => poll(h.url, [ch], { cursor })));
  const want = (cursor: string): string[] => ['r0', 'r1', 'r2', 'r3'].slice(cursor === start ? 0 : ids.indexOf(cursor) + 1);
  cursors.forEach((cursor, i) => t.same(answers[i]!.body.messages.map((m) => m.data), want(cursor), `poll ${i}`));
  t.equal(answers[1]!.text, answers[2]!.text, 'the same run and cursor: the same bytes');
  // The same run on two channels, one of them not covered before the cursor: the messages,
  // plus that channel's reset, never the one-channel body kept from above.
  const both = await poll(h.url, [ch, other], { cursor: ids[1]! });
  t.same(both.body.messages.map((m) => m.data), ['r2', 'r3']);
  t.same(both.body.reset?.map((r) => r.channel), [other]);
  t.not(both.text, answers[3]!.text);
});

t.test('reused waiters: aborts, answers and new polls interleaved never answer the wrong request', async (t) => {
  // PollTransport hands an ended waiter to the next request. Rounds of: polls held on ten
  // channels, some aborted, the rest of a few channels answered by one publish while new
  // polls arrive. Every answer must carry exactly its own channel's message; a poll on a
  // channel nobody published to must stay held (pollHold is 20 s here).
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const channels = Array.from({ length: 10 }, (_, i) => `${p}:pool${i}`);
  let rand = 11;
  const pick = (n: number): number => (rand = (rand * 1103515245 + 12345) % 2147483648) % n;
  for (let round = 0; round < 15; round++) {
    // The head now (a cursor that is no position is answered at once, with the head).
    const { cursor } = (await poll(h.url, channels, { cursor: 'start' })).body;
    const held = channels.flatMap((ch) => [0, 1, 2].map(() => {
      const controller = new AbortController();
      const answer = poll(h.url, [ch], { cursor, signal: controller.signal }).then((a) => a, (err: Error) => err.name);
      return { ch, controller, answer };
    }));
    await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === held.length, { timeoutMs: 5000, what: `${held.length} polls held` });
    const aborted = new Set(Array.from({ length: 8 }, () => pick(held.length)));
    const published = new Set(Array.from({ length: 3 }, () => channels[pick(channels.length)]!));
    // Aborts and the publishes race on purpose.
    for (const i of aborted) held[i]!.controller.abort();
    await Promise.all([...published].map((ch) => pub.publish(ch, `${ch}#${round}`)));
    const settled = held.filter((x, i) => !aborted.has(i) && published.has(x.ch));
    for (const x of settled) {
      const a = await x.answer;
      if (typeof a === 'string') {
        t.fail(`round ${round}: a live poll on ${x.ch} failed: ${a}`);
        continue;
      }
      const data = a.body.messages.map((m) => m.data);
      if (data.length !== 1 || data[0] !== `${x.ch}#${round}`) {
        t.fail(`round ${round}: poll on ${x.ch} answered ${JSON.stringify(data)}`);
      }
    }
    // Nothing else was answered: the polls on quiet channels are still held.
    const stillHeld = held.filter((x, i) => !aborted.has(i) && !published.has(x.ch));
    await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === stillHeld.length, { timeoutMs: 5000, what: `${stillHeld.length} polls still held` });
    for (const x of stillHeld) x.controller.abort();
    for (const x of held) await x.answer;
  }
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 0, { timeoutMs: 5000, what: 'no poll held' });
  t.pass('15 rounds of 30 polls: every answer its own');
});
