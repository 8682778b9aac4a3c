import { Redis } from 'ioredis';
import t from 'tap';
import { startHerald, uniquePrefix } from '../helpers/herald.js';
import { assertNoSilentGap, startSentinels } from '../helpers/redis-cluster.js';
import { RawSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

// 1 master + 1 replica + 3 sentinels; the master is SIGKILLed. Herald (through ioredis'
// Sentinel support) reconnects to the promoted replica, resubscribes, and its clients get an
// explicit reset for the gap.

t.test('Sentinel: master killed, replica promoted, Herald follows with a reset and no silent loss', async (t) => {
  const group = await startSentinels(t);
  const p = uniquePrefix();
  const sentinels = group.sentinels.map((s) => `"${s.addr}"`).join(', ');
  const h = await startHerald(t, {
    config: `
broker:
  type: sentinel
  sentinel: { nodes: [${sentinels}], masterName: ${group.masterName} }
  reconnectMin: 50ms
  reconnectMax: 300ms
  probeInterval: 500ms
  probeTimeout: 500ms
channels:
  - { pattern: "${p}:{name}", access: public }
log: { level: info }
`,
  });
  t.teardown(() => {
    if (!t.passing()) t.comment(h.logs().slice(-6000));
  });
  const check = await (await fetch(`${h.url}/readyz`)).json();
  t.match(check, { status: 'ready' });
  const channel = `${p}:news`;
  const s = await RawSse.open(`${h.url}/sse?channel=${channel}`);
  t.teardown(() => s.close());
  await s.until(() => s.retry !== null);

  const app = new Redis({ sentinels: group.sentinels.map((n) => ({ host: '127.0.0.1', port: n.port })), name: group.masterName, enableOfflineQueue: false });
  app.on('error', () => {});
  t.teardown(() => app.disconnect());
  await waitFor(() => app.status === 'ready', { timeoutMs: 5000, what: 'app publisher ready' });
  let seq = 0;
  let publishing = true;
  const loop = (async () => {
    while (publishing) {
      const n = seq + 1;
      await app.publish(channel, String(n)).then(() => (seq = n), () => {});
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  t.teardown(async () => {
    publishing = false;
    await loop;
  });
  await s.waitForMessages(5);

  const killedAt = Date.now();
  await group.master.kill();
  await waitFor(async () => (await group.currentMasterPort()) === group.replica.port, { timeoutMs: 20_000, intervalMs: 100, what: 'sentinels to promote the replica' });
  const promotedMs = Date.now() - killedAt;
  await waitFor(async () => (await fetch(`${h.url}/readyz`)).status === 200 && seq > 0, { timeoutMs: 15_000, intervalMs: 50, what: '/readyz ready' });
  const before = s.messages().length;
  await s.until(() => s.messages().length >= before + 5 && s.events.some((e) => e.event === 'reset'), 15_000, 'reset, then messages from the new master');
  const flowingMs = Date.now() - killedAt;
  t.comment(`sentinel failover: promoted after ${promotedMs} ms; messages flowing through Herald after ${flowingMs} ms (from SIGKILL)`);
  publishing = false;
  await loop;
  await s.until(() => Number(s.messages().at(-1)?.data) === seq, 5000, 'the last message');
  t.same(JSON.parse(s.events.find((e) => e.event === 'reset')!.data), { channel, reason: 'broker_gap' }, 'explicit reset for the gap');
  assertNoSilentGap(t, s);
  const pub = await fetch(`${h.url}/publish`, { method: 'POST', body: JSON.stringify({ channel, data: 'via api' }) });
  t.equal(pub.status, 200, 'POST /publish goes to the new master');
  await s.until(() => s.messages().some((e) => e.data === 'via api'), 5000, 'the API message');
});
