import t from 'tap';
import { openWsClients, WsClient } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { POSITION, tagOf } from '../helpers/positions.js';

const { redisUrl, pub } = await redisWithPublisher(t);

function config(prefix: string, limits = ''): string {
  return `
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 200, maxAge: 1m } }
  - { pattern: "${prefix}j:{name}", access: public, payload: json }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 30s, heartbeat: 25s, idle: 120s }
limits: { maxFrameBytes: 1kb, maxSubscriptionsPerConnection: 3, maxBadFrames: 30${limits} }
cors: { origins: ["https://ok.example"] }
log: { level: warn }
`;
}

t.test('subscribe, ping, unsubscribe round trips', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const c = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => c.close());
  const sub = await c.subscribe(`${p}:a`, { id: 'r1' });
  t.equal(sub.type, 'subscribed');
  t.equal(sub.channel, `${p}:a`);
  t.equal(sub.id, 'r1', 'request id echoed');
  t.match(sub.position, POSITION);
  t.same(await c.request({ type: 'ping', id: 'p1' }, 'pong'), { type: 'pong', id: 'p1' });
  t.same(await c.request({ type: 'ping' }, 'pong'), { type: 'pong' });
  await pub.publish(`${p}:a`, 'hello');
  await c.waitForMessages(1);
  const m = c.messages()[0]!;
  t.equal(m.channel, `${p}:a`);
  t.equal(m.data, 'hello');
  t.not(m.id, sub.position, 'message id after the subscribed position');
  t.equal(tagOf(m.id!), tagOf(sub.position!), 'issued by the same process');
  const again = await c.subscribe(`${p}:a`);
  t.equal(again.code, 'already_subscribed');
  t.same(await c.request({ type: 'unsubscribe', channel: `${p}:a` }, 'unsubscribed'), { type: 'unsubscribed', channel: `${p}:a` });
  const notSub = await c.request({ type: 'unsubscribe', channel: `${p}:a` }, 'error');
  t.equal(notSub.code, 'not_subscribed');
  t.equal(notSub.channel, `${p}:a`);
  const denied = await c.subscribe('nope:x');
  t.equal(denied.code, 'channel_denied');
  // A published message after unsubscribe must not arrive; a ping round trip orders the check.
  await pub.publish(`${p}:a`, 'after');
  await c.subscribe(`${p}:b`);
  await pub.publish(`${p}:b`, 'b1');
  await c.waitForMessages(1, 5000, `${p}:b`);
  t.same(c.messages().map((f) => f.data), ['hello', 'b1'], 'nothing after unsubscribe');
});

t.test('?channel= subscribes at connect; json channels embed raw JSON, text channels a string', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const c = await WsClient.open(`${h.wsUrl}/ws?channel=${p}j:x&channel=${p}:t`);
  t.teardown(() => c.close());
  await c.until(() => c.frames.filter((f) => f.type === 'subscribed').length === 2, 5000, 'two subscribed');
  await pub.publish(`${p}j:x`, '{"a":[1,2],"s":"é"}');
  await pub.publish(`${p}:t`, '{"a":1}');
  await c.waitForMessages(2);
  const raw = c.raw.filter((r) => r.includes('"type":"message"'));
  t.match(raw[0], /"data":\{"a":\[1,2\],"s":"é"\}\}$/, 'json payload embedded verbatim');
  t.same(c.messages()[0]!.data, { a: [1, 2], s: 'é' });
  t.equal(c.messages()[1]!.data, '{"a":1}', 'text payload is a JSON string, not parsed');
});

t.test('2,000 sockets on one channel receive every one of 100 messages in order', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const channel = `${p}:fan`;
  const clients = await openWsClients(`${h.wsUrl}/ws?channel=${channel}`, 2000, 200);
  t.teardown(() => clients.forEach((c) => c.close()));
  await waitFor(() => clients.every((c) => c.frames.some((f) => f.type === 'subscribed')), { timeoutMs: 20_000, what: 'all subscribed' });
  const sent = Array.from({ length: 100 }, (_, i) => `m${i}`);
  for (const m of sent) await pub.publish(channel, m);
  await waitFor(() => clients.every((c) => c.messages().length >= 100), { timeoutMs: 30_000, intervalMs: 50, what: 'all messages on all sockets' });
  const bad = clients.filter((c) => c.messages().map((f) => f.data).join(',') !== sent.join(','));
  t.equal(bad.length, 0, 'every socket got exactly the 100 messages in order');
  const ids = clients[0]!.messages().map((f) => f.id);
  t.ok(clients.every((c) => c.messages().every((f, i) => f.id === ids[i])), 'same ids everywhere');
  const metrics = await scrape(h.url);
  t.equal(metricValue(metrics, 'herald_messages_delivered_total', 'transport="ws"'), 200_000);
  t.equal(metricValue(metrics, 'herald_connections_open', 'transport="ws"'), 2000);
});

t.test('resume with since: replay then subscribed then live; other epoch and malformed reset', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:r`;
  const a = await WsClient.open(`${h.wsUrl}/ws?channel=${ch}`);
  t.teardown(() => a.close());
  await a.next((f) => f.type === 'subscribed');
  for (const m of ['1', '2', '3']) await pub.publish(ch, m);
  await a.waitForMessages(3);
  const first = a.messages()[0]!.id!;

  const b = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => b.close());
  const subscribed = await b.subscribe(ch, { since: first });
  t.same(b.frames.map((f) => f.type), ['message', 'message', 'subscribed'], 'replay before subscribed');
  t.same(b.messages().map((f) => f.data), ['2', '3']);
  t.equal(subscribed.type, 'subscribed');
  await pub.publish(ch, '4');
  await b.waitForMessages(3);
  t.same(b.messages().map((f) => f.data), ['2', '3', '4'], 'then live, no gap, no duplicate');

  const c = await WsClient.open(`${h.wsUrl}/ws?channel=${ch}&since=${encodeURIComponent(first)}`);
  t.teardown(() => c.close());
  await c.next((f) => f.type === 'subscribed');
  t.same(c.messages().map((f) => f.data), ['2', '3', '4'], '?since= applies to ?channel=');

  const d = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => d.close());
  await d.subscribe(ch, { since: 'zzzz0other:5' });
  t.match(d.frames[0], { type: 'reset', channel: ch, reason: 'epoch' });
  await d.subscribe(`${p}:other`, { since: 'garbage' });
  t.match(d.frames.find((f) => f.type === 'reset' && f.channel === `${p}:other`), { reason: 'invalid' });
});

t.test('malformed frames get their error and leave the socket usable; abuse closes it', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const c = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => c.close());
  const cases: [string | Buffer | object, string][] = [
    ['not json', 'frame_invalid'],
    ['[1,2]', 'frame_invalid'],
    ['"str"', 'frame_invalid'],
    ['null', 'frame_invalid'],
    [{ type: 7 }, 'frame_invalid'],
    [{ channel: 'x' }, 'frame_invalid'],
    [{ type: 'subscribe' }, 'frame_invalid'],
    [{ type: 'subscribe', channel: '' }, 'frame_invalid'],
    [{ type: 'subscribe', channel: `${p}:a`, since: 5 }, 'frame_invalid'],
    [{ type: 'subscribe', channel: `${p}:a`, token: {} }, 'frame_invalid'],
    [{ type: 'unsubscribe', channel: 3 }, 'frame_invalid'],
    [{ type: 'ping', id: 1 }, 'frame_invalid'],
    [{ type: 'publish', channel: 'x' }, 'frame_unknown_type'],
    [Buffer.from([1, 2, 3]), 'frame_binary'],
    ['x'.repeat(2048), 'frame_too_large'],
    [{ type: 'subscribe', channel: 'bad channel!' }, 'channel_invalid'],
  ];
  for (const [frame, code] of cases) {
    const err = await c.request(frame, 'error');
    t.equal(err.code, code, `${typeof frame === 'string' ? frame.slice(0, 20) : JSON.stringify(frame)} → ${code}`);
    t.type(err.message, 'string');
    t.same(await c.request({ type: 'ping' }, 'pong'), { type: 'pong' }, 'still usable');
  }
  t.equal((await c.subscribe(`${p}:ok`)).type, 'subscribed', 'subscribe still works');
  // 15 malformed frames so far (channel_invalid is not one); the limit is 30, so the 16th more closes.
  for (let i = 0; i < 16; i++) c.send('bad');
  const closed = await c.waitClosed();
  t.equal(closed.code, 1008);
  t.equal(closed.reason, 'too many bad frames');
  t.equal(c.frames.filter((f) => f.code === 'frame_invalid').length, 12 + 16, 'every bad frame answered (12 frame_invalid cases, then 16)');
});

t.test('too many subscriptions on one connection', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const c = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => c.close());
  for (const n of ['a', 'b', 'c']) t.equal((await c.subscribe(`${p}:${n}`)).type, 'subscribed');
  const err = await c.subscribe(`${p}:d`);
  t.equal(err.code, 'too_many_subscriptions');
  t.equal(err.channel, `${p}:d`);
  await c.request({ type: 'unsubscribe', channel: `${p}:a` }, 'unsubscribed');
  t.equal((await c.subscribe(`${p}:d`)).type, 'subscribed', 'room again after an unsubscribe');
});

t.test('origin not allowed: HTTP 403 before upgrading', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  await t.rejects(WsClient.open(`${h.wsUrl}/ws`, { Origin: 'https://evil.example' }), /HTTP 403/);
  const ok = await WsClient.open(`${h.wsUrl}/ws`, { Origin: 'https://ok.example' });
  ok.close();
});

t.test('a slow consumer is closed with 4008 after its last whole message; others get everything', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p, ', maxBufferedBytes: 64kb, maxMessageBytes: 1mb') });
  const ch = `${p}:slow`;
  const slow = await WsClient.open(`${h.wsUrl}/ws?channel=${ch}`);
  const fast = await WsClient.open(`${h.wsUrl}/ws?channel=${ch}`);
  t.teardown(() => { slow.close(); fast.close(); });
  await slow.next((f) => f.type === 'subscribed');
  await fast.next((f) => f.type === 'subscribed');
  (slow.socket as unknown as { _socket: import('node:net').Socket })._socket.pause();
  const payloads: string[] = [];
  for (let i = 0; i < 120; i++) {
    const payload = `${i}:`.padEnd(256 * 1024, 'x');
    payloads.push(payload);
    await pub.publish(ch, payload);
    if (i % 10 === 9 && metricValue(await scrape(h.url), 'herald_slow_consumer_disconnects_total', 'transport="ws"') >= 1) break;
  }
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_slow_consumer_disconnects_total', 'transport="ws"') === 1, { timeoutMs: 10_000, what: 'slow consumer counted' });
  (slow.socket as unknown as { _socket: import('node:net').Socket })._socket.resume();
  const closed = await slow.waitClosed(10_000);
  t.equal(closed.code, 4008);
  t.equal(closed.reason, 'slow consumer');
  const got = slow.messages().map((f) => f.data as string);
  t.ok(got.length < payloads.length, `the slow socket got a prefix (${got.length}/${payloads.length})`);
  t.same(got, payloads.slice(0, got.length), 'a gap-free prefix: it resumes from its last id');
  await fast.waitForMessages(payloads.length, 20_000);
  t.equal(fast.messages().length, payloads.length, 'the healthy socket got everything');
});

t.test('lifetime end closes with 4001 so the client reconnects and resumes', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: config(p).replace('- { name: desktop', '- { name: brief, lifetime: 1500ms, pollHold: 1s, heartbeat: 300ms, idle: 10s }\n    - { name: desktop'),
  });
  const c = await WsClient.open(`${h.wsUrl}/ws?client=brief&channel=${p}:life`);
  t.teardown(() => c.close());
  let pings = 0;
  c.socket.on('ping', () => pings++);
  await c.next((f) => f.type === 'subscribed');
  const closed = await c.waitClosed(6000);
  t.equal(closed.code, 4001);
  t.ok(pings >= 1, `automatic pings at the class heartbeat (${pings})`);
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_connections_closed_total', 'transport="ws",reason="lifetime"') === 1, { timeoutMs: 3000, what: 'lifetime close counted' });
});

t.test('one socket on a channel, then two, then one: bursts arrive whole and in order', async (t) => {
  // A channel with one socket is sent to directly (ws.send) for the first message of each
  // millisecond and through the topic for the rest; with two sockets, only the topic.
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const a = await WsClient.open(`${h.wsUrl}/ws`);
  const b = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => {
    a.close();
    b.close();
  });
  const burst = async (from: number, count: number): Promise<void> => {
    const batch = pub.pipeline();
    for (let i = from; i < from + count; i++) batch.publish(`${p}:one`, `m${i}`);
    await batch.exec();
  };
  await a.subscribe(`${p}:one`);
  await burst(0, 150);
  await a.waitForMessages(150);
  await b.subscribe(`${p}:one`);
  await burst(150, 150);
  await b.waitForMessages(150);
  t.same(await b.request({ type: 'unsubscribe', channel: `${p}:one` }, 'unsubscribed'), { type: 'unsubscribed', channel: `${p}:one` });
  await burst(300, 150);
  for (let i = 450; i < 460; i++) {
    await pub.publish(`${p}:one`, `m${i}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await a.waitForMessages(460);
  const expected = Array.from({ length: 460 }, (_, i) => `m${i}`);
  t.same(a.messages().map((m) => m.data), expected, 'the socket that stayed: every message, in order, across the three phases');
  t.same(b.messages().map((m) => m.data), expected.slice(150, 300), 'the socket that came and went: its phase only');
});

t.test('quiet spells and bursts on two channels: every socket gets all, in order, across channels', async (t) => {
  // Three sockets on one channel, one of them on a second channel too; each round is a quiet
  // spell longer than BUSY_MS (250 ms), then a burst alternating the two channels in one
  // pipeline. Each burst's first message on x is sent to its three sockets directly, the rest
  // through the topic (ws-topics.ts); y, with one socket, mixes both paths too. The socket on
  // both channels must get the publish order across them, the others their channel's order.
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const clients = await Promise.all([0, 1, 2].map(() => WsClient.open(`${h.wsUrl}/ws`)));
  t.teardown(() => clients.forEach((c) => c.close()));
  const [a, b, c] = clients as [WsClient, WsClient, WsClient];
  for (const client of clients) await client.subscribe(`${p}:x`);
  await a.subscribe(`${p}:y`);
  const published: [string, string][] = [];
  for (let round = 0; round < 6; round++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const batch = pub.pipeline();
    for (let i = 0; i < 40; i++) {
      const channel = i % 2 === 0 ? `${p}:x` : `${p}:y`;
      const data = `r${round}-${i}`;
      batch.publish(channel, data);
      published.push([channel, data]);
    }
    await batch.exec();
  }
  await a.waitForMessages(published.length, 10_000);
  const onX = published.filter(([channel]) => channel === `${p}:x`).map(([, data]) => data);
  await b.waitForMessages(onX.length, 10_000);
  await c.waitForMessages(onX.length, 10_000);
  t.same(a.messages().map((m) => [m.channel, m.data]), published, 'the socket on both channels: every message, in publish order');
  t.same(b.messages().map((m) => m.data), onX, 'a socket on one channel: all of it, in order');
  t.same(c.messages().map((m) => m.data), onX, 'another: the same');
});

t.test('a channel whose last socket left keeps its topic group a moment: a socket back within it resumes without gap or duplicate', async (t) => {
  // TopicGroups: the group stays a hub subscriber with no socket for GROUP_LINGER_MS, then is released.
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const ch = `${p}:back`;
  const a = await WsClient.open(`${h.wsUrl}/ws?channel=${ch}`);
  await a.next((f) => f.type === 'subscribed');
  await pub.publish(ch, 'one');
  await a.waitForMessages(1);
  const last = a.messages()[0]!.id!;
  a.close();
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_connections_open', 'transport="ws"') === 0, { timeoutMs: 5000, what: 'the socket gone' });
  // Past the broker's own linger (300 ms here), inside the group's: still covered. Published
  // now, while no socket is on the channel, nobody gets it live.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await pub.publish(ch, 'two');
  const b = await WsClient.open(`${h.wsUrl}/ws?channel=${ch}&since=${encodeURIComponent(last)}`);
  t.teardown(() => b.close());
  await b.next((f) => f.type === 'subscribed');
  await pub.publish(ch, 'three');
  await b.waitForMessages(2);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(b.messages().map((m) => m.data), ['two', 'three'], 'the gap replayed, then live, each once');
  // Long after every socket left, the channel is given back (group, then the broker's linger).
  b.close();
  await waitFor(async () => !(metricValue(await scrape(h.url), 'herald_channels') > 0), { timeoutMs: 10000, what: 'the channel released' });
});
