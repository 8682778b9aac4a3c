import t, { type Test } from 'tap';
import { scrape, startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { promtoolCheck } from '../helpers/promtool.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { RawSse } from '../helpers/sse.js';
import { tagOf } from '../helpers/positions.js';
import { waitFor } from '../helpers/wait.js';

const { redisUrl, pub } = await redisWithPublisher(t);

const config = (prefix: string): string => `
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 50, maxAge: 1m } }
drain: { window: 200ms, deadline: 5s }
log: { level: info }
`;

interface Listening {
  readonly pid: number;
  readonly epoch: string;
  readonly tag: string;
  readonly port: number;
}

function listening(h: HeraldProcess): Listening[] {
  return h
    .logs()
    .split('\n')
    .filter((l) => l.includes('"msg":"listening"'))
    .map((l) => JSON.parse(l) as Listening);
}

/** Sum of every sample of `name` whose labels contain `labels`. */
function sum(text: string, name: string, labels: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') && line.includes(labels)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function startWorkers(t: Test, prefix: string): Promise<HeraldProcess> {
  const h = await startHerald(t, { config: config(prefix), args: ['--workers', '2'], waitReady: false });
  await waitFor(() => listening(h).length >= 2, { timeoutMs: 20_000, what: 'two workers listening' });
  return h;
}

/** Opens SSE clients (each on its own socket, so SO_REUSEPORT spreads them) until both epochs are seen. */
async function clientsOnBothWorkers(t: Test, h: HeraldProcess, channel: string, n: number): Promise<RawSse[]> {
  const clients = await Promise.all(Array.from({ length: n }, () => RawSse.open(`${h.url}/sse?channel=${channel}`)));
  t.teardown(() => clients.forEach((c) => c.close()));
  await Promise.all(clients.map((c) => c.until(() => c.retry !== null, 10_000, 'stream start')));
  return clients;
}

t.test('--workers 2: both workers accept connections and /metrics is aggregated', async (t) => {
  const p = uniquePrefix();
  const h = await startWorkers(t, p);
  const workers = listening(h);
  t.equal(new Set(workers.map((w) => w.pid)).size, 2, 'two worker pids');
  t.ok(workers.every((w) => w.port === h.port), 'both on the same port');
  t.notOk(workers.some((w) => w.pid === h.pid), 'the supervisor itself does not listen');

  const channel = `${p}:spread`;
  const clients = await clientsOnBothWorkers(t, h, channel, 20);
  await pub.publish(channel, 'hello');
  await Promise.all(clients.map((c) => c.waitForMessages(1, 10_000)));
  const tags = new Set(clients.map((c) => tagOf(c.messages()[0]!.id!)));
  t.same([...tags].sort(), workers.map((w) => w.tag).sort(), 'message ids carry both workers\' tags: both accepted clients');

  // Whichever worker answers, the numbers are the group's.
  for (let i = 0; i < 4; i++) {
    const text = await scrape(h.url);
    t.equal(sum(text, 'herald_connections_open', 'transport="sse"'), 20, `scrape ${i}: open SSE connections summed over workers`);
    t.equal(sum(text, 'herald_messages_delivered_total', 'transport="sse"'), 20, `scrape ${i}: deliveries summed`);
    t.match(text, /^herald_broker_connected 1$/m, 'min over workers');
  }
  const check = await promtoolCheck(await scrape(h.url));
  if (check === null) t.skip('promtool not installed (.ci/run installs it)', () => {});
  else t.equal(check.code, 0, `promtool check metrics accepts the merged scrape ${check.output}`);
});

t.test('a killed worker is replaced on the same port; SIGTERM to the supervisor drains all and exits 0', async (t) => {
  const p = uniquePrefix();
  const h = await startWorkers(t, p);
  const [victim, survivor] = listening(h) as [Listening, Listening];
  process.kill(victim.pid, 'SIGKILL');
  await h.waitForLog(/"msg":"worker died; restarting".*"signal":"SIGKILL"/, 5000);
  await waitFor(() => listening(h).length >= 3, { timeoutMs: 20_000, what: 'a replacement worker listening' });
  const replacement = listening(h)[2]!;
  t.not(replacement.pid, victim.pid, 'a new pid');
  t.not(replacement.pid, survivor.pid);
  t.equal(replacement.port, h.port, 'on the same port');
  t.notOk(alive(victim.pid), 'the old worker is gone');

  const channel = `${p}:after`;
  const clients = await clientsOnBothWorkers(t, h, channel, 16);
  const text = await scrape(h.url);
  t.equal(sum(text, 'herald_connections_open', 'transport="sse"'), 16, 'the replacement reports into the aggregate');

  const code = await h.stop('SIGTERM', 15_000);
  t.equal(code, 0, 'supervisor exits 0 after the drain');
  await Promise.all(clients.map((c) => c.until(() => c.ended, 5000, 'stream end')));
  t.ok(clients.every((c) => c.events.some((e) => e.event === 'reconnect')), 'every client was told to reconnect');
  t.notOk(alive(survivor.pid) || alive(replacement.pid), 'no worker left behind');
  t.match(h.logs(), /"msg":"supervisor stopped","code":0/);
});

t.test('SIGHUP via the supervisor: a broken file is refused once with FILE:LINE:COL; a good one reaches every worker', async (t) => {
  const p = uniquePrefix();
  const h = await startWorkers(t, p);
  h.writeConfig(config(p).replace('linger: 300ms', 'linger: [300ms'));
  h.child.kill('SIGHUP');
  await h.waitForLog(/config reload refused/, 5000);
  const fileLineCol = new RegExp(`${h.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+`, 'g');
  t.ok((h.logs().match(fileLineCol)?.length ?? 0) >= 1, 'FILE:LINE:COL in the log');
  t.equal(h.logs().match(/config reload refused/g)?.length, 1, 'refused once, by the supervisor, not per worker');
  t.notMatch(h.logs(), /"msg":"config reloaded"/, 'no worker took the broken file');
  h.writeConfig(config(p).replace('channels:\n', `channels:\n  - { pattern: "${p}x:{name}", access: public }\n`));
  h.child.kill('SIGHUP');
  await waitFor(() => (h.logs().match(/"msg":"config reloaded"/g)?.length ?? 0) === 2, { timeoutMs: 5000, what: 'both workers reloaded' });
  const s = await RawSse.open(`${h.url}/sse?channel=${p}x:new`);
  t.teardown(() => s.close());
  t.equal(s.status, 200, 'the new rule is in force');
});
