import t from 'tap';
import { startHerald, uniquePrefix, type HeraldProcess } from '../helpers/herald.js';
import { freePort, redisWithPublisher } from '../helpers/redis.js';
import { RawSse, type SseEvent } from '../helpers/sse.js';
import { tagOf } from '../helpers/positions.js';
import { waitFor } from '../helpers/wait.js';

const { redisUrl, pub } = await redisWithPublisher(t);

const config = (prefix: string): string => `
server: { reusePort: true }
broker: { type: redis, url: "${redisUrl}", linger: 300ms }
channels:
  - { pattern: "${prefix}:{name}", access: public, history: { size: 50, maxAge: 1m } }
drain: { window: 300ms, deadline: 5s }
log: { level: info }
`;

/** How one stream (one connection) of a ResumingClient began and ended. */
interface Session {
  readonly status: number;
  readonly sentLastEventId: string;
  readonly events: SseEvent[];
}

/**
 * What a browser's EventSource does, made observable: on a graceful end it reconnects with
 * Last-Event-ID set to the last id it saw (a message's or a reset's).
 */
class ResumingClient {
  readonly sessions: Session[] = [];
  /** A reconnect that failed while the client was still meant to run. */
  failure: Error | null = null;
  private current: RawSse | null = null;
  private stopped = false;

  constructor(private readonly url: string) {}

  async start(): Promise<void> {
    const stream = await RawSse.open(this.url, this.lastId === '' ? {} : { 'last-event-id': this.lastId });
    const session: Session = { status: stream.status, sentLastEventId: this.lastId, events: stream.events };
    this.sessions.push(session);
    this.current = stream;
    void stream.until(() => stream.ended, 60_000, 'end').then(() => {
      if (this.stopped) return;
      this.start().catch((err: unknown) => {
        // After stop() (teardown kills the daemons) a failed reconnect is expected.
        if (!this.stopped) this.failure = err instanceof Error ? err : new Error(String(err));
      });
    });
    await stream.until(() => stream.retry !== null, 10_000, 'stream start');
  }

  /** Every message payload received, over all sessions. */
  payloads(): string[] {
    return this.sessions.flatMap((s) => s.events.filter((e) => e.event === 'message').map((e) => e.data));
  }

  /** The id EventSource would send: the last non-empty one seen on any stream. */
  get lastId(): string {
    for (let i = this.sessions.length - 1; i >= 0; i--) {
      const events = this.sessions[i]!.events;
      for (let j = events.length - 1; j >= 0; j--) {
        const id = events[j]!.id;
        if (id !== null && id !== '') return id;
      }
    }
    return '';
  }

  /** The process that issued the last id (position.ts: its tag). */
  get tag(): string {
    return tagOf(this.lastId);
  }

  stop(): void {
    this.stopped = true;
    this.current?.close();
  }
}

function tagOfProcess(h: HeraldProcess): string {
  const line = h.logs().split('\n').find((l) => l.includes('"msg":"listening"'))!;
  return (JSON.parse(line) as { tag: string }).tag;
}

/**
 * A process vouches for another's position once it has covered the channel for longer than the
 * tolerance (2 s) and seen the WINDOW (4) messages that name it (docs/resume.md).
 */
async function warmUp(channel: string, label: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 2300));
  for (let i = 1; i <= 3; i++) await pub.publish(channel, `${label}${i}`);
}

t.test('rolling restart of two processes on one port: every client reconnects and resumes or is told to reset', async (t) => {
  const p = uniquePrefix();
  const channel = `${p}:roll`;
  const port = await freePort();
  const a = await startHerald(t, { config: config(p), port });
  const b = await startHerald(t, { config: config(p), port });
  t.equal(b.port, a.port, 'both processes listen on the same port (SO_REUSEPORT)');

  const clients = Array.from({ length: 12 }, () => new ResumingClient(`${a.url}/sse?channel=${channel}`));
  t.teardown(() => clients.forEach((c) => c.stop()));
  for (const c of clients) await c.start();
  await warmUp(channel, 'w');
  await pub.publish(channel, 'm1');
  await waitFor(() => clients.every((c) => c.payloads().includes('m1')), { timeoutMs: 5000, what: 'm1 everywhere' });
  const onA = clients.filter((c) => c.tag === tagOfProcess(a));
  const onB = clients.filter((c) => c.tag === tagOfProcess(b));
  t.equal(onA.length + onB.length, clients.length, 'each client is on one of the two processes');
  t.ok(onA.length > 0 && onB.length > 0, `the kernel spread the clients (${onA.length} on A, ${onB.length} on B)`);

  // Step 1: A goes away; its clients move to B.
  t.equal(await a.stop('SIGTERM', 15_000), 0, 'A drained and exited 0');
  await waitFor(() => onA.every((c) => c.sessions.length === 2), { timeoutMs: 10_000, what: "A's clients on B" });
  await pub.publish(channel, 'm2');
  await waitFor(() => clients.every((c) => c.payloads().includes('m2')), { timeoutMs: 5000, what: 'm2 everywhere' });

  // Step 2: a new A' joins and starts covering the channel (new connections spread over B and
  // A'), then B goes away; everyone ends up on A'.
  const a2 = await startHerald(t, { config: config(p), port });
  const anchors = Array.from({ length: 12 }, () => new ResumingClient(`${a.url}/sse?channel=${channel}`));
  t.teardown(() => anchors.forEach((c) => c.stop()));
  for (const c of anchors) await c.start();
  await warmUp(channel, 'x');
  await pub.publish(channel, 'm2b');
  await waitFor(() => anchors.some((c) => c.tag === tagOfProcess(a2)), { timeoutMs: 5000, what: "an anchor on A'" });
  const before = clients.map((c) => c.sessions.length);
  t.equal(await b.stop('SIGTERM', 15_000), 0, 'B drained and exited 0');
  await waitFor(() => clients.every((c, i) => c.sessions.length === before[i]! + 1), { timeoutMs: 10_000, what: "everyone on A'" });
  await pub.publish(channel, 'm3');
  await waitFor(() => clients.every((c) => c.payloads().includes('m3')), { timeoutMs: 5000, what: 'm3 everywhere' });
  t.ok(clients.every((c) => c.tag === tagOfProcess(a2)), "m3 came from A'");

  for (const c of clients) {
    t.same(c.payloads(), ['w1', 'w2', 'w3', 'm1', 'm2', 'x1', 'x2', 'x3', 'm2b', 'm3'], 'every message arrived once, in order');
    t.ok(c.sessions.every((s) => s.status === 200), 'no error status on any reconnect');
    for (const [i, s] of c.sessions.entries()) {
      if (i === 0) continue;
      const prev = c.sessions[i - 1]!;
      t.equal(prev.events.at(-1)?.event, 'reconnect', 'the previous stream ended with a reconnect event');
      t.not(s.sentLastEventId, '', 'reconnected with Last-Event-ID');
      // The other process covered the channel: it locates the position, so no reset.
      t.notOk(s.events.some((e) => e.event === 'reset'), 'resumed without a reset');
    }
  }
  t.ok(clients.every((c) => c.failure === null), 'no reconnect failed');
  clients.forEach((c) => c.stop());
  t.equal(onA[0]!.sessions.length, 3, "A's clients moved twice");
  t.equal(onB[0]!.sessions.length, 2, "B's clients moved once");
});
