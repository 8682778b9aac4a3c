import t from 'tap';
import { WsClient } from '../helpers/clients.js';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const { redisUrl, pub } = await redisWithPublisher(t);

/** `rules` are the channel-pattern suffixes allowed, e.g. ['a', 'b'] → "<prefix>a:{name}", "<prefix>b:{name}". */
const config = (prefix: string, rules: readonly string[]): string => `
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
${rules.map((r) => `  - { pattern: "${prefix}${r}:{name}", access: public, history: { size: 20, maxAge: 1m } }`).join('\n')}
log: { level: info }
`;

function reloads(logs: string): number {
  return logs.match(/"msg":"config reloaded"/g)?.length ?? 0;
}

t.test('SIGHUP with a valid file: new rules apply, open streams stay, denied subscriptions end with an error', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p, ['a', 'b']) });
  const keep = await RawSse.open(`${h.url}/sse?channel=${p}a:x`);
  const gone = await RawSse.open(`${h.url}/sse?channel=${p}b:x`);
  const ws = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => {
    keep.close();
    gone.close();
    ws.close();
  });
  await Promise.all([keep, gone].map((c) => c.until(() => c.retry !== null, 5000, 'stream start')));
  t.equal((await ws.subscribe(`${p}a:x`)).type, 'subscribed');
  t.equal((await ws.subscribe(`${p}b:x`)).type, 'subscribed');
  const before = await RawSse.open(`${h.url}/sse?channel=${p}c:x`);
  t.equal(before.status, 403, 'c is not allowed yet');
  before.close();

  h.writeConfig(config(p, ['a', 'c']));
  h.child.kill('SIGHUP');
  await waitFor(() => reloads(h.logs()) === 1, { timeoutMs: 5000, what: 'config reloaded' });
  t.match(h.logs(), /"msg":"config reloaded".*"endedSubscriptions":2/, 'one SSE stream and one WS subscription ended');

  await gone.until(() => gone.ended, 5000, 'the denied stream to end');
  const last = gone.events.at(-1)!;
  t.equal(last.event, 'stream-error', 'the denied stream ends with a stream-error event');
  t.same(JSON.parse(last.data), { code: 'channel_denied', channel: `${p}b:x` });
  const wsError = await ws.next((f) => f.type === 'error' && f.channel === `${p}b:x`);
  t.equal(wsError.code, 'channel_denied', 'the WS subscription ends with an error frame');
  t.equal(ws.closed, null, 'the WS connection itself stays open');

  const added = await RawSse.open(`${h.url}/sse?channel=${p}c:x`);
  t.teardown(() => added.close());
  t.equal(added.status, 200, 'the new rule allows c');
  await added.until(() => added.retry !== null);
  await pub.publish(`${p}a:x`, 'after reload');
  await pub.publish(`${p}c:x`, 'on the new rule');
  await keep.waitForMessages(1);
  await added.waitForMessages(1);
  await ws.waitForMessages(1, 5000, `${p}a:x`);
  t.notOk(keep.ended, 'the allowed stream was not dropped');
  t.equal(keep.messages()[0]!.data, 'after reload');
  t.equal(added.messages()[0]!.data, 'on the new rule');
});

t.test('SIGHUP with a broken file: FILE:LINE:COL in the log, the old config stays in force', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p, ['a']) });
  const keep = await RawSse.open(`${h.url}/sse?channel=${p}a:x`);
  t.teardown(() => keep.close());
  await keep.until(() => keep.retry !== null);

  // A valid YAML document with a schema error: unknown key on line 4.
  h.writeConfig(config(p, ['c']).replace('access: public', 'acess: public'));
  h.child.kill('SIGHUP');
  await h.waitForLog(/config reload refused/, 5000);
  const file = h.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  t.match(h.logs(), new RegExp(`${file}:4:\\d+: .*acess`), 'the issue is printed as FILE:LINE:COL');
  t.equal(reloads(h.logs()), 0);

  h.writeConfig('broker: [unclosed\n');
  h.child.kill('SIGHUP');
  await waitFor(() => (h.logs().match(/config reload refused/g)?.length ?? 0) === 2, { timeoutMs: 5000, what: 'second refusal' });
  t.match(h.logs(), new RegExp(`${file}:\\d+:\\d+: `), 'a YAML syntax error too');

  const still = await RawSse.open(`${h.url}/sse?channel=${p}a:y`);
  t.teardown(() => still.close());
  t.equal(still.status, 200, 'the old rule still allows a');
  const denied = await RawSse.open(`${h.url}/sse?channel=${p}c:y`);
  denied.close();
  t.equal(denied.status, 403, 'the broken file\'s rule was not applied');
  await pub.publish(`${p}a:x`, 'still flowing');
  await keep.waitForMessages(1);
  t.notOk(keep.ended);
  t.equal(h.child.exitCode, null, 'the daemon kept running');
});
