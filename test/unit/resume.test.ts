// Issue 10: a position issued by one process resumes on another that received the same
// messages (exactly, or an explicit reset: never a wrong replay).
import t from 'tap';
import type { RuleConfig } from '../../src/config/types.js';
import { MemoryHistory } from '../../src/history/memory.js';
import { Hub, type Ready } from '../../src/hub/hub.js';
import type { PreparedMessage } from '../../src/hub/message.js';
import type { Broker, BrokerStatus } from '../../src/hub/ports.js';
import { parsePosition } from '../../src/hub/position.js';
import { Listed, type ResetReason, type Subscriber } from '../../src/hub/subscriber.js';
import { createLogger } from '../../src/log.js';
import { makeRoute, type Route } from '../../src/rules/router.js';
import { FakeScheduler } from '../helpers/fake-scheduler.js';

const quietBroker: Broker = {
  status: 'ready' as BrokerStatus,
  start: async () => {},
  subscribe: () => {},
  unsubscribe: () => {},
  publish: async () => 0,
  close: async () => {},
};

class Sink extends Listed implements Subscriber {
  readonly transport = 'sse' as const;
  got: PreparedMessage[] = [];
  deliver(m: PreparedMessage): void {
    this.got.push(m);
  }
  reset(_channel: string, _reason: ResetReason): void {}
}

const rule = (size = 100): RuleConfig => ({
  pattern: 'c:{n}', redis: 'c:{n}', payload: 'text', history: { size, maxAgeMs: 3_600_000, store: 'memory' }, lingerMs: 1000, batchDelayMs: 0,
  access: { kind: 'public' }, publishScopes: [],
});
const route = (channel: string, size = 100): Route => makeRoute(channel, channel, rule(size));

/** Two processes on one Redis: the same wall clock (skew is the tolerance's business), own tags. */
class World {
  wallMs = 1_700_000_000_000;
  readonly hubs: Hub[];
  readonly keepers: Sink[] = [];
  constructor(tags: string[]) {
    this.hubs = tags.map((tag) => {
      const clock = new FakeScheduler();
      const hub = new Hub({
        broker: quietBroker, history: new MemoryHistory(), scheduler: clock, epoch: 'e' + tag, tag, clock: () => this.wallMs,
        wallClock: () => this.wallMs, log: createLogger('silent'),
        stats: { messageReceived: () => {}, dropped: () => {}, observeLatency: () => {} },
        maxMessageBytes: 10_000, replayMax: 1000, latencySampleEvery: 1_000_000, durable: null,
      });
      return hub;
    });
  }
  /** Process `i` starts covering `r` now (a subscriber that stays). */
  cover(i: number, r: Route): Sink {
    const keeper = new Sink();
    this.hubs[i]!.subscribe(keeper, r, null, () => {});
    this.hubs[i]!.onLive([r.redisChannel]);
    return keeper;
  }
  /** One Redis PUBLISH, delivered to every process that covers the channel, in order. */
  publish(redisChannel: string, payload: string, advanceMs = 50): void {
    for (const hub of this.hubs) hub.onMessage(redisChannel, Buffer.from(payload));
    this.wallMs += advanceMs;
  }
  resume(i: number, routes: Route[], since: string): { replay: string[]; resets: (ResetReason | null)[] } {
    const out: Ready[] = [];
    for (const r of routes) this.hubs[i]!.subscribe(new Sink(), r, parsePosition(since), (ready) => out.push(ready));
    const replay = out.flatMap((r) => r.replay).sort((a, b) => a.seq - b.seq).map((m) => `${m.channel}/${m.payload}`);
    return { replay, resets: out.map((r) => r.reset) };
  }
}

t.test('a message id from A resumes exactly on B, and cuts every channel of the stream there', async (t) => {
  const w = new World(['aaaa', 'bbbb']);
  const [c1, c2] = [route('c:1'), route('c:2')];
  const keeperA = w.cover(0, c1);
  w.cover(0, c2);
  w.cover(1, c1);
  w.cover(1, c2);
  w.wallMs += 5000;
  for (let i = 1; i <= 8; i++) {
    w.publish('c:1', `a${i}`);
    w.publish('c:2', `b${i}`);
  }
  const a5 = keeperA.got.find((m) => m.payload === 'a5')!;
  t.match(a5.id, /\.aaaa\.[a-z0-9]+$/, 'issued by A');
  const onB = w.resume(1, [c1, c2], a5.id);
  t.same(onB.resets, [null, null]);
  t.same(onB.replay, ['c:2/b5', 'c:1/a6', 'c:2/b6', 'c:1/a7', 'c:2/b7', 'c:1/a8', 'c:2/b8']);
  t.same(w.resume(0, [c1, c2], a5.id).replay, onB.replay, 'the issuer itself answers the same');
  const a2 = keeperA.got.find((m) => m.payload === 'a2')!;
  t.same(w.resume(0, [c1], a2.id).replay.length, 6, 'the issuer resumes from its first messages too');
  t.same(w.resume(1, [c1], a2.id).resets, ['not_covered'], 'elsewhere the first WINDOW-1 messages (short windows) are a reset');
});

t.test('B cannot vouch: it started covering within the tolerance before the message', async (t) => {
  const w = new World(['aaaa', 'bbbb']);
  const c1 = route('c:1');
  const keeperA = w.cover(0, c1);
  w.wallMs += 5000;
  for (let i = 1; i <= 5; i++) w.publish('c:1', `old${i}`);
  w.cover(1, c1);
  for (let i = 1; i <= 6; i++) w.publish('c:1', `new${i}`);
  const id = keeperA.got.find((m) => m.payload === 'new5')!.id;
  t.same(w.resume(1, [c1], id), { replay: [], resets: ['not_covered'] });
  w.wallMs += 5000;
  for (let i = 7; i <= 9; i++) w.publish('c:1', `new${i}`);
  const later = keeperA.got.find((m) => m.payload === 'new7')!.id;
  t.same(w.resume(1, [c1], later), { replay: ['c:1/new8', 'c:1/new9'], resets: [null] }, 'once covered long enough, exact');
});

t.test('repeating identical payloads: a reset, never a wrong replay', async (t) => {
  const w = new World(['aaaa', 'bbbb']);
  const c1 = route('c:1', 4);
  const keeperA = w.cover(0, route('c:1', 1000));
  w.cover(1, c1); // B keeps 4 messages, A 1000
  w.wallMs += 5000;
  for (let i = 0; i < 8; i++) w.publish('c:1', 'x');
  const ids = keeperA.got.map((m) => m.id);
  t.equal(new Set(ids.slice(3).map((id) => id.split('.')[0])).size, 1, 'every full window is the same: one fingerprint');
  for (const id of ids) {
    const r = w.resume(1, [c1], id);
    t.same(r.replay, [], 'nothing replayed from an ambiguous position');
    t.not(r.resets[0], null, 'an explicit reset');
  }
  // Later the same run again, long after: B holds one twin only, A's old id must not find it.
  const oldId = ids[7]!;
  w.wallMs += 60_000;
  for (const p of ['y', 'z', 'x', 'x', 'x', 'x']) w.publish('c:1', p, 10);
  const r = w.resume(1, [c1], oldId);
  t.same(r.replay, [], 'the surviving twin is not the client\'s message');
  t.equal(r.resets[0], 'evicted');
});

t.test('repeating identical payloads: the issuer resumes its own ids exactly (its seq), however the payloads repeat', async (t) => {
  const w = new World(['aaaa']);
  const c1 = route('c:1');
  const keeper = w.cover(0, c1);
  w.wallMs += 5000;
  // A heartbeat channel (one payload forever) and a two-state toggle: every full window repeats.
  for (let i = 0; i < 12; i++) w.publish('c:1', 'tick', 10);
  for (let i = 0; i < 12; i++) w.publish('c:1', i % 2 === 0 ? 'on' : 'off', 10);
  const got = keeper.got;
  t.equal(got.length, 24);
  for (let i = 0; i < got.length; i++) {
    const r = w.resume(0, [c1], got[i]!.id);
    t.same(r.resets, [null], `own id ${i}: no reset`);
    t.equal(r.replay.length, got.length - 1 - i, `own id ${i}: exactly what followed it`);
  }
  // An id in the pre-seq form (no seq part) still goes by fingerprint: ambiguous here, a reset.
  const legacyForm = got[8]!.id.split('.').slice(0, 3).join('.');
  t.not(w.resume(0, [c1], legacyForm).resets[0], null, 'the fingerprint alone is ambiguous: reset');
});

t.test('an idle stream: a head from A resumes on B by time', async (t) => {
  const w = new World(['aaaa', 'bbbb']);
  const c1 = route('c:1');
  w.cover(0, c1);
  w.cover(1, c1);
  w.wallMs += 5000;
  const head = w.hubs[0]!.head([c1]);
  t.match(head, /^~\d+\./, 'no message to anchor: a head');
  w.wallMs += 3000;
  w.publish('c:1', 'after');
  t.same(w.resume(1, [c1], head), { replay: ['c:1/after'], resets: [null] });
  const near = w.hubs[0]!.head([route('c:2')]);
  w.publish('c:1', 'too close to tell');
  const r = w.resume(1, [c1], near);
  t.equal(r.resets[0], 'not_covered', 'a message within the tolerance of a foreign head is a reset');
});
