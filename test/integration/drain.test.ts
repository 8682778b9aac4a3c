import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { poll, WsClient, type PollAnswer } from '../helpers/clients.js';
import { scrape, metricValue, startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';
import { POSITION } from '../helpers/positions.js';

const { redisUrl, pub } = await redisWithPublisher(t);

const config = (prefix: string, drain: string): string => `
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 50, maxAge: 1m } }
classes:
  default: desktop
  list:
    - { name: desktop, lifetime: 300s, pollHold: 30s, heartbeat: 25s, idle: 120s }
    - { name: quick, lifetime: 300s, pollHold: 200ms, heartbeat: 25s, idle: 120s }
drain: ${drain}
log: { level: info }
`;

/** GET over one kept-alive socket: reaches the daemon after it stopped accepting new connections. */
function getOn(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function exitAfter(h: HeraldProcess): Promise<{ code: number | null; elapsedMs: number }> {
  const started = performance.now();
  const code = await h.stop('SIGTERM', 30_000);
  return { code, elapsedMs: performance.now() - started };
}

t.test('SIGTERM: SSE gets retry + reconnect, WS 1012, held polls their cursor; spread over the window; exit 0', async (t) => {
  const p = uniquePrefix();
  const windowMs = 1000;
  const deadlineMs = 8000;
  const h = await startHerald(t, { config: config(p, `{ window: ${windowMs}ms, deadline: ${deadlineMs}ms }`) });
  const ch = `${p}:d`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal(await getOn(agent, `${h.url}/readyz`), 200, 'ready before');

  const sse = await Promise.all(Array.from({ length: 20 }, () => RawSse.open(`${h.url}/sse?channel=${ch}`)));
  const ws = await Promise.all(Array.from({ length: 3 }, () => WsClient.open(`${h.wsUrl}/ws?channel=${ch}`)));
  t.teardown(() => {
    sse.forEach((c) => c.close());
    ws.forEach((c) => c.close());
  });
  await Promise.all(sse.map((c) => c.until(() => c.retry !== null, 10_000, 'stream start')));
  await Promise.all(ws.map((c) => c.until(() => c.frames.some((f) => f.type === 'subscribed'), 5000, 'subscribed')));
  await pub.publish(ch, 'before the drain');
  await Promise.all(sse.map((c) => c.waitForMessages(1)));
  const lastId = sse[0]!.messages()[0]!.id!;
  const cursor = (await poll(h.url, [ch], { client: 'quick', cursor: lastId })).body.cursor;
  const polls: Promise<PollAnswer>[] = [poll(h.url, [ch]), poll(h.url, [ch], { cursor })];
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 2, { timeoutMs: 5000, what: 'two held polls' });

  const endedAt = new Map<RawSse, number>();
  for (const c of sse) void c.until(() => c.ended, 30_000, 'end').then(() => endedAt.set(c, performance.now()));
  const stopped = exitAfter(h);
  await h.waitForLog(/"msg":"draining"/, 5000);
  t.equal(await getOn(agent, `${h.url}/readyz`), 503, '/readyz is 503 while draining');

  const answers = await Promise.all(polls);
  for (const a of answers) {
    t.equal(a.status, 200, 'held poll answered 200, not an error');
    t.same(a.body.messages, [], 'nothing new');
    t.match(a.body.cursor, POSITION, 'with a cursor to poll again elsewhere');
  }
  t.equal(answers[1]!.body.cursor, cursor, 'a poll holding a cursor gets it back');

  const closes = await Promise.all(ws.map((c) => c.waitClosed(deadlineMs)));
  t.same(closes, ws.map(() => ({ code: 1012, reason: 'service restart' })), 'WS closes with 1012');

  await Promise.all(sse.map((c) => c.until(() => c.ended, deadlineMs, 'stream end')));
  for (const c of sse) {
    t.equal(c.status, 200);
    const last = c.events[c.events.length - 1]!;
    t.equal(last.event, 'reconnect', 'the final event is reconnect');
    t.same(JSON.parse(last.data), { reason: 'draining' });
  }
  t.ok(sse.every((c) => c.retry === 500), 'a short retry: before the end');
  const times = [...endedAt.values()];
  const spreadMs = Math.max(...times) - Math.min(...times);
  t.ok(spreadMs >= windowMs * 0.5, `SSE ends spread over the window (${Math.round(spreadMs)} ms for ${windowMs} ms)`);

  const { code, elapsedMs } = await stopped;
  t.equal(code, 0, 'exit code 0');
  t.ok(elapsedMs < deadlineMs, `exited within the deadline (${Math.round(elapsedMs)} ms)`);
  t.match(h.logs(), /"msg":"drain finished","outcome":"drained"/);
  await t.rejects(fetch(`${h.url}/healthz`), 'the port no longer accepts connections');
});

// drain.window may not exceed drain.deadline (validated), so the spread always fits the deadline.
t.test('window as long as the deadline: every client is told before it, exit 0 within it', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p, '{ window: 1s, deadline: 1s }') });
  const sse = await Promise.all(Array.from({ length: 5 }, () => RawSse.open(`${h.url}/sse?channel=${p}:slow`)));
  t.teardown(() => sse.forEach((c) => c.close()));
  await Promise.all(sse.map((c) => c.until(() => c.retry !== null, 5000, 'stream start')));
  const { code, elapsedMs } = await exitAfter(h);
  t.equal(code, 0, 'exit code 0');
  t.ok(elapsedMs < 1000 + 1500, `exited right after the 1s deadline at most (${Math.round(elapsedMs)} ms)`);
  await Promise.all(sse.map((c) => c.until(() => c.ended, 5000, 'stream end')));
  t.ok(sse.every((c) => c.status === 200 && c.events.at(-1)?.event === 'reconnect'), 'every client got reconnect, none an error status');
});

t.test('SIGINT drains like SIGTERM', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p, '{ window: 100ms, deadline: 5s }') });
  const c = await WsClient.open(`${h.wsUrl}/ws?channel=${p}:i`);
  t.teardown(() => c.close());
  const code = await h.stop('SIGINT', 10_000);
  t.equal(code, 0);
  t.same(await c.waitClosed(1000), { code: 1012, reason: 'service restart' });
});
