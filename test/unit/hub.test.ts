import t from 'tap';
import type { RuleConfig } from '../../src/config/types.js';
import { keyDigest, payloadDigest, WINDOW, windowFingerprint } from '../../src/hub/fingerprint.js';
import { parsePosition } from '../../src/hub/position.js';
import { MemoryHistory } from '../../src/history/memory.js';
import { Hub, type Ready } from '../../src/hub/hub.js';
import type { PreparedMessage } from '../../src/hub/message.js';
import type { Broker, BrokerHandler, BrokerStatus } from '../../src/hub/ports.js';
import { Listed, type ResetReason, type Subscriber } from '../../src/hub/subscriber.js';
import { createLogger } from '../../src/log.js';
import { makeRoute, type Route } from '../../src/rules/router.js';
import { FakeScheduler } from '../helpers/fake-scheduler.js';

/** A broker that records edges; the test decides when subscriptions go live. */
class RecordingBroker implements Broker {
  status: BrokerStatus = 'ready';
  subscribed: string[][] = [];
  unsubscribed: string[][] = [];
  async start(_handler: BrokerHandler): Promise<void> {}
  subscribe(list: readonly string[]): void {
    this.subscribed.push([...list]);
  }
  unsubscribe(list: readonly string[]): void {
    this.unsubscribed.push([...list]);
  }
  async publish(): Promise<number> {
    return 0;
  }
  async close(): Promise<void> {}
}

class Sink extends Listed implements Subscriber {
  readonly transport = 'sse' as const;
  got: PreparedMessage[] = [];
  resets: [string, ResetReason][] = [];
  deliver(m: PreparedMessage): void {
    this.got.push(m);
  }
  reset(channel: string, reason: ResetReason): void {
    this.resets.push([channel, reason]);
  }
}

const rule = (over: Partial<RuleConfig> = {}): RuleConfig => ({
  pattern: 'c:{n}', redis: 'c:{n}', payload: 'text', history: { size: 3, maxAgeMs: 60_000, store: 'memory' }, lingerMs: 1000, batchDelayMs: 0,
  access: { kind: 'public' }, publishScopes: [], ...over,
});
const route = (channel: string, r = rule(), redisChannel = channel): Route => makeRoute(channel, redisChannel, r);

function setup(): { hub: Hub; broker: RecordingBroker; clock: FakeScheduler; stats: { received: number; dropped: string[] } } {
  const clock = new FakeScheduler();
  const broker = new RecordingBroker();
  const stats = { received: 0, dropped: [] as string[] };
  const hub = new Hub({
    broker, history: new MemoryHistory(), scheduler: clock, epoch: 'ep1', tag: 'aaaa', clock: () => clock.now,
    wallClock: () => 1_700_000_000_000 + clock.now, log: createLogger('silent'),
    stats: { messageReceived: () => stats.received++, dropped: (r) => stats.dropped.push(r), observeLatency: () => {} },
    maxMessageBytes: 100, replayMax: 100, latencySampleEvery: 1_000_000, durable: null,
  });
  return { hub, broker, clock, stats };
}

function subscribe(hub: Hub, sub: Subscriber, r: Route, since: string | null = null): Ready[] {
  const out: Ready[] = [];
  hub.subscribe(sub, r, since === null ? null : parsePosition(since), (ready) => out.push(ready));
  return out;
}

t.test('ready waits for the broker; messages get increasing ids; one subscribe edge per channel', async (t) => {
  const { hub, broker, clock } = setup();
  const a = new Sink();
  const b = new Sink();
  const readyA = subscribe(hub, a, route('c:1'));
  const readyB = subscribe(hub, b, route('c:1'));
  t.equal(readyA.length, 0, 'not live yet');
  clock.endTurn();
  t.same(broker.subscribed, [['c:1']], 'one batched edge for two subscribers');
  hub.onLive(['c:1']);
  t.equal(readyA.length + readyB.length, 2);
  hub.onMessage('c:1', Buffer.from('x'));
  hub.onMessage('c:1', Buffer.from('y'));
  t.same(a.got.map((m) => m.payload), ['x', 'y']);
  t.equal(a.got[0], b.got[0], 'the same PreparedMessage object goes to every subscriber');
  const [s1, s2] = a.got.map((m) => m.seq);
  t.ok(s2! > s1!, 'seqs increase');
  t.not(a.got[0]!.id, a.got[1]!.id, 'distinct ids');
});

t.test('replay after a position; eviction, epoch, future and malformed positions reset', async (t) => {
  const { hub, clock } = setup();
  const keeper = new Sink();
  subscribe(hub, keeper, route('c:1'));
  clock.endTurn();
  hub.onLive(['c:1']);
  for (const p of ['m1', 'm2', 'm3']) hub.onMessage('c:1', Buffer.from(p));
  const first = keeper.got[0]!;
  const late = subscribe(hub, new Sink(), route('c:1'), first.id)[0]!;
  t.same(late.replay.map((m) => m.payload), ['m2', 'm3']);
  t.equal(late.reset, null);
  hub.onMessage('c:1', Buffer.from('m4'));
  hub.onMessage('c:1', Buffer.from('m5')); // evicts m1 and m2 (size 3)
  t.equal(subscribe(hub, new Sink(), route('c:1'), first.id)[0]!.reset, 'evicted');
  t.equal(subscribe(hub, new Sink(), route('c:1'), 'ep1:1')[0]!.reset, 'epoch', 'ids of an older Herald');
  t.equal(subscribe(hub, new Sink(), route('c:1'), '~10000.hx2k1p0.aaaa')[0]!.reset, 'invalid', 'a head of ours from the future');
  t.equal(subscribe(hub, new Sink(), route('c:1'), 'nonsense')[0]!.reset, 'invalid');
});

t.test('a position from before coverage started is not_covered', async (t) => {
  const { hub, clock } = setup();
  const s = subscribe(hub, new Sink(), route('c:2'), hub.head());
  clock.endTurn();
  hub.onLive(['c:2']);
  t.equal(s[0]!.reset, 'not_covered', 'coverage takes a fresh seq, so an earlier position cannot claim it');
});

t.test('broker link loss: live subscribers get broker_gap once coverage returns', async (t) => {
  const { hub, clock } = setup();
  const a = new Sink();
  subscribe(hub, a, route('c:1'));
  clock.endTurn();
  hub.onLive(['c:1']);
  hub.onStatus('reconnecting');
  t.equal(a.resets.length, 0, 'not yet: the reset is sent when the client can refetch and go on live');
  hub.onMessage('c:1', Buffer.from('stale')); // not live: ignored
  t.equal(a.got.length, 0);
  hub.onLive(['c:1']);
  t.same(a.resets, [['c:1', 'broker_gap']]);
  hub.onMessage('c:1', Buffer.from('fresh'));
  t.same(a.got.map((m) => m.payload), ['fresh']);
});

t.test('coverage lost on some channels (one cluster shard): only their subscribers get broker_gap', async (t) => {
  const { hub, clock } = setup();
  const a = new Sink();
  const b = new Sink();
  subscribe(hub, a, route('c:1'));
  subscribe(hub, b, route('c:2'));
  clock.endTurn();
  hub.onLive(['c:1', 'c:2']);
  hub.onCoverageLost(['c:1', 'c:unknown']);
  hub.onMessage('c:1', Buffer.from('lost'));
  hub.onMessage('c:2', Buffer.from('kept'));
  t.same([a.got.length, b.got.map((m) => m.payload)], [0, ['kept']], 'the other channel stays live');
  hub.onLive(['c:1']);
  t.same(a.resets, [['c:1', 'broker_gap']]);
  t.same(b.resets, [], 'no reset on the intact channel');
  hub.onMessage('c:1', Buffer.from('fresh'));
  t.same(a.got.map((m) => m.payload), ['fresh']);
});

t.test('linger: unsubscribe edge only after the last subscriber plus linger; state forgotten', async (t) => {
  const { hub, broker, clock } = setup();
  const a = new Sink();
  subscribe(hub, a, route('c:1'));
  clock.endTurn();
  hub.onLive(['c:1']);
  hub.unsubscribe(a, route('c:1'));
  clock.endTurn();
  t.same(broker.unsubscribed, []);
  clock.advance(999);
  clock.endTurn();
  t.same(broker.unsubscribed, []);
  clock.advance(1);
  clock.endTurn();
  t.same(broker.unsubscribed, [['c:1']]);
  t.equal(hub.channelCount, 0);
  t.equal(hub.subscriptions, 0);
});

t.test('interest that comes and goes in one turn leaves no state behind (linger 0)', async (t) => {
  const { hub, broker, clock } = setup();
  const r = route('c:x', rule({ lingerMs: 0 }));
  const a = new Sink();
  subscribe(hub, a, r);
  hub.unsubscribe(a, r);
  clock.endTurn();
  t.same(broker.subscribed, []);
  t.equal(hub.channelCount, 0);
  const again = subscribe(hub, new Sink(), r);
  clock.endTurn();
  t.same(broker.subscribed, [['c:x']], 'a later subscriber still gets a subscribe edge');
  hub.onLive(['c:x']);
  t.equal(again.length, 1);
});

t.test('json rules: invalid dropped and counted, event name taken from the payload, oversize dropped', async (t) => {
  const { hub, clock, stats } = setup();
  const a = new Sink();
  subscribe(hub, a, route('j:1', rule({ payload: 'json' })));
  clock.endTurn();
  hub.onLive(['j:1']);
  hub.onMessage('j:1', Buffer.from('{"event":"post.edited","x":1}'));
  hub.onMessage('j:1', Buffer.from('{oops'));
  hub.onMessage('j:1', Buffer.from('{"event":"bad\\nname"}'));
  hub.onMessage('j:1', Buffer.from(JSON.stringify({ big: 'x'.repeat(200) })));
  t.same(a.got.map((m) => m.event), ['post.edited', '']);
  t.equal(a.got[0]!.ws, '{"type":"message","channel":"j:1","id":"' + a.got[0]!.id + '","event":"post.edited","data":{"event":"post.edited","x":1}}');
  t.same(stats.dropped, ['invalid_json', 'oversize']);
  t.equal(stats.received, 4);
});

t.test('two client channels on one Redis channel share one subscription and one seq', async (t) => {
  const { hub, broker, clock } = setup();
  const a = new Sink();
  const b = new Sink();
  subscribe(hub, a, route('a:1', rule(), 'shared'));
  subscribe(hub, b, route('b:1', rule({ payload: 'json' }), 'shared'));
  clock.endTurn();
  t.same(broker.subscribed, [['shared']]);
  hub.onLive(['shared']);
  hub.onMessage('shared', Buffer.from('"hi"'));
  t.equal(a.got[0]!.channel, 'a:1');
  t.equal(b.got[0]!.channel, 'b:1');
  t.equal(a.got[0]!.seq, b.got[0]!.seq);
  t.ok(a.got[0]!.poll.endsWith(',"data":"\\"hi\\""}'), 'text: JSON string');
  t.ok(b.got[0]!.poll.endsWith(',"data":"hi"}'), 'json: raw');
});

t.test('a second client channel on an already-live Redis channel is live at once', async (t) => {
  const { hub, broker, clock } = setup();
  const a = new Sink();
  subscribe(hub, a, route('a:1', rule(), 'shared'));
  clock.endTurn();
  hub.onLive(['shared']);
  const b = new Sink();
  const readyB = subscribe(hub, b, route('b:1', rule(), 'shared'));
  clock.endTurn();
  t.same(broker.subscribed, [['shared']], 'no second edge: Redis already holds it');
  t.equal(readyB.length, 1, 'ready without waiting for an onLive that will never come');
  hub.onMessage('shared', Buffer.from('x'));
  t.same([a.got.length, b.got.length], [1, 1]);
});

t.test('a reload that remaps a channel: the lingering old mapping stays apart from the new one', async (t) => {
  const { hub, broker, clock } = setup();
  const old = route('c:1', rule(), 'old:1');
  const a = new Sink();
  subscribe(hub, a, old);
  clock.endTurn();
  hub.onLive(['old:1']);
  hub.unsubscribe(a, old); // ended by the reload; old:1 lingers
  const next = route('c:1', rule(), 'new:1');
  const b = new Sink();
  const ready = subscribe(hub, b, next);
  clock.endTurn();
  t.same(broker.subscribed, [['old:1'], ['new:1']]);
  t.equal(ready.length, 0, 'waits for the new Redis channel, not the lingering old one');
  hub.onMessage('old:1', Buffer.from('stale'));
  t.equal(b.got.length, 0, 'nothing from the old mapping');
  hub.onLive(['new:1']);
  hub.onMessage('new:1', Buffer.from('fresh'));
  t.same(b.got.map((m) => m.payload), ['fresh']);
  clock.advance(1000);
  clock.endTurn();
  t.same(broker.unsubscribed, [['old:1']], 'the old mapping is released after its linger');
  hub.unsubscribe(b, next);
  t.equal(hub.subscriptions, 0, 'no subscription leaks');
});

t.test('a reload that changes only the rule applies it to later messages', async (t) => {
  const { hub, clock } = setup();
  const a = new Sink();
  subscribe(hub, a, route('c:1'));
  clock.endTurn();
  hub.onLive(['c:1']);
  hub.updateRoute(route('c:1', rule({ payload: 'json' })));
  hub.onMessage('c:1', Buffer.from('{"n":1}'));
  t.ok(a.got[0]!.poll.endsWith(',"data":{"n":1}}'), 'embedded raw under the new json rule');
});

// Issue 9: timer and deferred callbacks outside stream.ts were not guarded (STYLE C).
t.test('a throw in an interest edge (a deferred callback) is logged, not thrown out of the turn', async (t) => {
  const clock = new FakeScheduler();
  const broker = new RecordingBroker();
  broker.subscribe = () => {
    throw new Error('broker bug');
  };
  const lines: string[] = [];
  const hub = new Hub({
    broker, history: new MemoryHistory(), scheduler: clock, epoch: 'ep1', tag: 'aaaa', clock: () => clock.now,
    wallClock: () => 1_700_000_000_000 + clock.now, log: createLogger('error', (l) => lines.push(l)),
    stats: { messageReceived: () => {}, dropped: () => {}, observeLatency: () => {} },
    maxMessageBytes: 100, replayMax: 100, latencySampleEvery: 1_000_000, durable: null,
  });
  subscribe(hub, new Sink(), route('c:1'));
  t.doesNotThrow(() => clock.endTurn(), 'the batched subscribe edge runs guarded');
  t.match(lines.join(''), /"msg":"hub deferred failed"/);
  hub.close();
});

t.test('each message is named by the window of its last four payloads, however long the channel runs', async (t) => {
  const { hub, clock } = setup();
  const sink = new Sink();
  const r = route('c:w');
  subscribe(hub, sink, r);
  clock.endTurn();
  hub.onLive(['c:w']);
  const payloads = ['a', 'b', 'a', 'c', 'd', 'a', 'b', 'a', 'c', 'e'];
  for (const p of payloads) hub.onMessage('c:w', Buffer.from(p));
  t.equal(sink.got.length, payloads.length);
  const digests = payloads.map((p) => payloadDigest(Buffer.from(p)));
  sink.got.forEach((m, i) => {
    const window = digests.slice(Math.max(0, i - WINDOW + 1), i + 1);
    t.equal(m.digest, digests[i]);
    t.equal(m.windowLength, window.length, `message ${i}: a window of ${window.length}`);
    t.equal(m.fp, windowFingerprint(keyDigest(r.key), window), `message ${i}: named by its window`);
    t.ok(m.id.startsWith(`${m.fp}.`), 'the id begins with it');
  });
  t.equal(sink.got[3]!.fp, sink.got[8]!.fp, 'the same four payloads in a row (a b a c), the same name');
  t.not(sink.got[2]!.fp, sink.got[7]!.fp, 'the first three (a b a) are named apart from a full window ending alike');
});
