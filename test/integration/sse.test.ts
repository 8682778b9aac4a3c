import t from 'tap';
import { EventSource } from 'eventsource';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';
import { POSITION } from '../helpers/positions.js';

const { redisUrl, pub } = await redisWithPublisher(t);

function config(prefix: string, extra = ''): string {
  return `
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 50, maxAge: 1m } }
  - { pattern: "${prefix}j:{name}", access: public, payload: json }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 30s, heartbeat: 25s, idle: 120s }
    - { name: quick, lifetime: 1500ms, pollHold: 1s, heartbeat: 200ms, idle: 10s }
log: { level: warn }
${extra}`;
}

t.test('PUBLISH from a plain Redis client reaches SSE subscribers on one and several channels', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const one = await RawSse.open(`${h.url}/sse?channel=${p}:a`);
  const both = await RawSse.open(`${h.url}/sse?channel=${p}:a&channel=${p}:b`);
  t.teardown(() => { one.close(); both.close(); });
  t.equal(one.status, 200);
  t.match(one.headers['content-type'], /^text\/event-stream/);
  t.match(one.headers['cache-control'], /no-cache/);
  t.match(one.headers['cache-control'], /no-transform/);
  t.equal(one.headers['x-accel-buffering'], 'no');
  await one.until(() => one.retry !== null, 5000, 'retry hint');
  t.ok(one.retry! > 0, 'retry: hint first');

  await pub.publish(`${p}:a`, 'first');
  await pub.publish(`${p}:b`, 'second');
  await pub.publish(`${p}:a`, 'third');
  await one.waitForMessages(2);
  await both.waitForMessages(3);
  t.same(one.messages().map((e) => e.data), ['first', 'third']);
  t.same(both.messages().map((e) => e.data), ['first', 'second', 'third']);
  const ids = both.messages().map((e) => e.id!);
  t.same(one.messages().map((e) => e.id), [ids[0], ids[2]], 'the same message has the same id on every connection');
  t.equal(new Set(ids).size, 3, 'distinct ids across channels');
});

t.test('payloads arrive byte for byte through a real EventSource', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const payloads = ['plain', 'two\nlines', '\n\nleading empty lines', 'trailing\n', 'a\n\n\nb', 'héllo ✓ 日本語 🎉', '{"json":"as text"}', 'data: not a field'];
  const received: string[] = [];
  const es = new EventSource(`${h.url}/sse?channel=${p}:bytes`);
  t.teardown(() => es.close());
  es.onmessage = (e) => received.push(e.data as string);
  await new Promise<void>((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = (e) => reject(new Error(`EventSource error ${JSON.stringify(e)}`));
  });
  for (const payload of payloads) await pub.publish(`${p}:bytes`, payload);
  await pub.publish(`${p}:bytes`, 'crlf\r\nline');
  await waitFor(() => received.length === payloads.length + 1, { timeoutMs: 5000, what: 'all payloads' });
  t.same(received.slice(0, payloads.length), payloads);
  t.equal(received[payloads.length], 'crlf\nline', 'CRLF arrives as LF: text/event-stream cannot carry CR (documented)');
});

t.test('json channels: event type from the payload, invalid JSON dropped and counted', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const s = await RawSse.open(`${h.url}/sse?channel=${p}j:x`);
  t.teardown(() => s.close());
  await s.until(() => s.retry !== null);
  await pub.publish(`${p}j:x`, '{"event":"post.deleted","id":7}');
  await pub.publish(`${p}j:x`, '{not json');
  await pub.publish(`${p}j:x`, '[1,2]');
  await s.until(() => s.events.length >= 3);
  t.same(s.events.map((e) => [e.event, e.data]), [['subscribed', `{"channel":"${p}j:x"}`], ['post.deleted', '{"event":"post.deleted","id":7}'], ['message', '[1,2]']]);
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  t.match(metrics, /herald_messages_dropped_total\{reason="invalid_json"\} 1/);
});

t.test('a stream starts with a subscribed event per channel, carrying the head as its id', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const s = await RawSse.open(`${h.url}/sse?channel=${p}:a&channel=${p}:b`);
  t.teardown(() => s.close());
  await s.until(() => s.events.length >= 2);
  t.same(s.events.map((e) => [e.event, e.data]), [['subscribed', `{"channel":"${p}:a"}`], ['subscribed', `{"channel":"${p}:b"}`]]);
  t.match(s.events[0]!.id, POSITION);
  t.equal(s.events[1]!.id, s.events[0]!.id, 'one position covers the whole stream');
  t.match(s.raw, /^retry: \d+\n\n/, 'after the retry hint');
  await pub.publish(`${p}:b`, 'after');
  const resumed = await RawSse.open(`${h.url}/sse?channel=${p}:a&channel=${p}:b`, { 'last-event-id': s.events[0]!.id! });
  t.teardown(() => resumed.close());
  await resumed.waitForMessages(1);
  t.same(resumed.messages().map((e) => e.data), ['after'], 'resuming from it replays what came after');
});

t.test('a stream that ends before its first message resumes from its start: nothing published in the gap is lost', async (t) => {
  // The quick class's lifetime (1.5 s) ends the stream; EventSource reconnects after the retry
  // hint (1 s) with the last id it saw, within the broker linger (5 s), so history covers the
  // gap. Before streams began with a position, a stream that had carried no message reconnected
  // without one, at the new head: the gap's message was lost without a reset.
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
broker: { type: redis, url: "${redisUrl}", linger: 5s }
channels:
  - { pattern: "${p}:{name}", access: public, history: { size: 50, maxAge: 1m } }
classes:
  default: quick
  list: [ { name: quick, lifetime: 1500ms, pollHold: 1s, heartbeat: 200ms, idle: 10s } ]
sse: { retry: 1s }
log: { level: warn }
`,
  });
  const es = new EventSource(`${h.url}/sse?channel=${p}:gap`);
  t.teardown(() => es.close());
  const received: string[] = [];
  const resets: string[] = [];
  const positions: string[] = [];
  es.onmessage = (e) => received.push(e.data as string);
  es.addEventListener('reset', (e) => resets.push(e.data as string));
  es.addEventListener('subscribed', (e) => positions.push(e.lastEventId));
  await new Promise<void>((resolve) => { es.onopen = () => resolve(); });
  await new Promise<void>((resolve) => { es.onerror = () => resolve(); });
  t.equal(es.readyState, es.CONNECTING, 'the stream ended at its lifetime; EventSource waits to reconnect');
  await pub.publish(`${p}:gap`, 'published in the gap');
  await waitFor(() => received.length === 1, { timeoutMs: 8000, what: 'the message published between the two streams' });
  t.same(received, ['published in the gap']);
  t.same(resets, [], 'no reset: the position was exact');
  t.match(positions[0], POSITION, 'each stream began with its position');
  t.equal(positions.length, 2);
});

t.test('1,000 SSE clients share one Redis subscriber connection; NUMSUB drops to 0 after linger', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const channel = `${p}:wide`;
  const clients: RawSse[] = [];
  for (let i = 0; i < 1000; i += 100) {
    clients.push(...(await Promise.all(Array.from({ length: 100 }, () => RawSse.open(`${h.url}/sse?channel=${channel}`)))));
  }
  t.teardown(() => clients.forEach((c) => c.close()));
  await Promise.all(clients.map((c) => c.until(() => c.retry !== null, 10_000, 'stream start')));
  const list = (await pub.client('LIST')) as string;
  const subs = list.split('\n').filter((l) => l.includes(`name=herald:sub:${h.pid}`));
  t.equal(subs.length, 1, 'exactly one subscriber connection for the process');
  t.same(await pub.pubsub('NUMSUB', channel), [channel, 1]);
  await pub.publish(channel, 'to everyone');
  await Promise.all(clients.map((c) => c.waitForMessages(1, 10_000)));
  t.ok(clients.every((c) => c.messages()[0]!.data === 'to everyone'), 'all 1,000 got it');
  clients.forEach((c) => c.close());
  await waitFor(async () => ((await pub.pubsub('NUMSUB', channel)) as [string, number])[1] === 0, { timeoutMs: 5000, what: 'NUMSUB 0 after linger' });
  t.pass('unsubscribed after the last client left and the linger ended');
});

t.test('resume with Last-Event-ID replays exactly the missed messages, or says reset', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const channel = `${p}:resume`;
  const keeper = await RawSse.open(`${h.url}/sse?channel=${channel}`); // keeps coverage while the other is away
  t.teardown(() => keeper.close());
  const first = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  await first.until(() => first.retry !== null);
  await pub.publish(channel, 'seen');
  await first.waitForMessages(1);
  const last = first.messages()[0]!.id!;
  first.close();
  for (let i = 1; i <= 5; i++) await pub.publish(channel, `missed ${i}`);
  await keeper.waitForMessages(6);

  const again = await RawSse.open(`${h.url}/sse?channel=${channel}`, { 'last-event-id': last });
  t.teardown(() => again.close());
  await again.waitForMessages(5);
  t.same(again.messages().map((e) => e.data), ['missed 1', 'missed 2', 'missed 3', 'missed 4', 'missed 5']);
  t.same(again.messages().map((e) => e.id), keeper.messages().slice(1).map((e) => e.id), 'same ids as live');
  await pub.publish(channel, 'live after replay');
  await again.waitForMessages(6);
  t.equal(again.events.filter((e) => e.event === 'reset').length, 0, 'no reset');

  const query = await RawSse.open(`${h.url}/sse?channel=${channel}&lastEventId=${encodeURIComponent(last)}`);
  t.teardown(() => query.close());
  await query.waitForMessages(6);
  t.equal(query.messages()[0]!.data, 'missed 1', 'lastEventId query parameter works like the header');

  const foreign = await RawSse.open(`${h.url}/sse?channel=${channel}`, { 'last-event-id': 'zzzzzz:3' });
  t.teardown(() => foreign.close());
  await foreign.until(() => foreign.events.length >= 1);
  t.equal(foreign.events[0]!.event, 'reset');
  t.same(JSON.parse(foreign.events[0]!.data), { channel, reason: 'epoch' });
  t.match(foreign.events[0]!.id, POSITION, 'reset carries the position to go on from');

  const garbage = await RawSse.open(`${h.url}/sse?channel=${channel}`, { 'last-event-id': 'not a position' });
  t.teardown(() => garbage.close());
  await garbage.until(() => garbage.events.length >= 1);
  t.same(JSON.parse(garbage.events[0]!.data), { channel, reason: 'invalid' });
});

t.test('a position older than the history gives an explicit reset', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p).replace('size: 50', 'size: 3') });
  const channel = `${p}:short`;
  const keeper = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  t.teardown(() => keeper.close());
  await keeper.until(() => keeper.retry !== null);
  await pub.publish(channel, 'm0');
  await keeper.waitForMessages(1);
  const from = keeper.messages()[0]!.id!;
  for (let i = 1; i <= 5; i++) await pub.publish(channel, `m${i}`);
  await keeper.waitForMessages(6);
  const late = await RawSse.open(`${h.url}/sse?channel=${channel}`, { 'last-event-id': from });
  t.teardown(() => late.close());
  await late.until(() => late.events.length >= 1);
  t.equal(late.messages().length, 0, 'no partial replay');
  t.same(JSON.parse(late.events[0]!.data), { channel, reason: 'evicted' });
});

t.test('a resume after the channel was released (linger ended) is a reset: nothing was covered', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const channel = `${p}:gone`;
  const s = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  await s.until(() => s.retry !== null);
  await pub.publish(channel, 'x');
  await s.waitForMessages(1);
  const id = s.messages()[0]!.id!;
  s.close();
  await waitFor(async () => ((await pub.pubsub('NUMSUB', channel)) as [string, number])[1] === 0, { timeoutMs: 5000, what: 'released' });
  await pub.publish(channel, 'published while nobody listened');
  const back = await RawSse.open(`${h.url}/sse?channel=${channel}`, { 'last-event-id': id });
  t.teardown(() => back.close());
  await back.until(() => back.events.length >= 1);
  t.same(JSON.parse(back.events[0]!.data), { channel, reason: 'not_covered' });
});

t.test('heartbeats, and the stream ends at the client class lifetime', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const s = await RawSse.open(`${h.url}/sse?channel=${p}:hb&client=quick`);
  t.teardown(() => s.close());
  await s.until(() => s.comments >= 2, 5000, 'two heartbeats');
  await s.until(() => s.ended, 5000, 'lifetime end');
  t.pass('ended gracefully');
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  t.match(metrics, /herald_connections_closed_total\{transport="sse",reason="lifetime"\} 1/);
});

t.test('bad requests get a JSON error and a status', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p) });
  const cases: [string, number, string][] = [
    ['/sse', 400, 'channel_required'],
    ['/sse?channel=nobody:x', 403, 'channel_denied'],
    [`/sse?channel=${p}:bad%20name`, 400, 'channel_invalid'],
    [`/sse?channel=${p}:a:b`, 403, 'channel_denied'],
    ['/nope', 404, 'not_found'],
  ];
  for (const [path, status, code] of cases) {
    const res = await fetch(h.url + path);
    t.equal(res.status, status, path);
    const body = (await res.json()) as { error: { code: string } };
    t.equal(body.error.code, code, path);
  }
});
