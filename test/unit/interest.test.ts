import t from 'tap';
import { InterestTracker, type InterestEdges } from '../../src/hub/interest.js';
import { FakeScheduler } from '../helpers/fake-scheduler.js';


type Edge = ['sub' | 'unsub', string[]];

function setup(): { tracker: InterestTracker; clock: FakeScheduler; edges: Edge[] } {
  const edges: Edge[] = [];
  const sink: InterestEdges = {
    subscribe: (list) => edges.push(['sub', [...list]]),
    unsubscribe: (list) => edges.push(['unsub', [...list]]),
  };
  const clock = new FakeScheduler();
  return { tracker: new InterestTracker(sink, clock), clock, edges };
}

t.test('first acquire queues one subscribe edge, flushed at end of turn', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  tracker.acquire('a');
  t.same(edges, [], 'nothing before the flush');
  t.ok(tracker.isDesired('a'));
  clock.endTurn();
  t.same(edges, [['sub', ['a']]]);
  tracker.acquire('a');
  clock.endTurn();
  t.equal(edges.length, 1, 'later acquires emit nothing');
});

t.test('a burst in one turn becomes one subscribe list and one unsubscribe list', async (t) => {
  const { tracker, clock, edges } = setup();
  for (const c of ['a', 'b', 'c']) tracker.acquire(c);
  t.equal(clock.pendingDefers, 1, 'one deferred flush per turn');
  clock.endTurn();
  for (const c of ['a', 'b', 'c']) tracker.release(c, 0);
  for (const c of ['d', 'e']) tracker.acquire(c);
  t.equal(clock.pendingDefers, 1);
  clock.endTurn();
  t.same(edges, [
    ['sub', ['a', 'b', 'c']],
    ['unsub', ['a', 'b', 'c']],
    ['sub', ['d', 'e']],
  ]);
});

t.test('acquire then release in the same turn cancels out', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  tracker.release('a', 0);
  clock.endTurn();
  t.same(edges, []);
  t.notOk(tracker.isDesired('a'));
  t.equal(tracker.size, 0);
});

t.test('release then re-acquire in the same turn (linger 0) cancels out', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  clock.endTurn();
  tracker.release('a', 0);
  tracker.acquire('a');
  clock.endTurn();
  t.same(edges, [['sub', ['a']]]);
});

t.test('last release lingers, then unsubscribes', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  tracker.acquire('a');
  clock.endTurn();
  tracker.release('a', 1000);
  tracker.release('a', 1000);
  clock.endTurn();
  t.ok(tracker.isDesired('a'), 'lingering counts as desired');
  t.same([...tracker.desired()], ['a']);
  clock.advance(999);
  clock.endTurn();
  t.same(edges, [['sub', ['a']]], 'no edge before the linger ends');
  clock.advance(1);
  t.notOk(tracker.isDesired('a'));
  t.same(edges.length, 1, 'the unsubscribe waits for the flush');
  clock.endTurn();
  t.same(edges, [['sub', ['a']], ['unsub', ['a']]]);
  t.equal(tracker.size, 0);
});

t.test('acquire during linger cancels it without any edge', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  clock.endTurn();
  tracker.release('a', 1000);
  clock.advance(500);
  tracker.acquire('a');
  clock.advance(5000);
  clock.endTurn();
  t.same(edges, [['sub', ['a']]]);
  tracker.release('a', 1000);
  clock.advance(1000);
  clock.endTurn();
  t.same(edges, [['sub', ['a']], ['unsub', ['a']]], 'a fresh linger applies after the next release');
});

t.test('a long-poll loop (release, re-acquire, …) keeps one timer, and lingers from the LAST release', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  clock.endTurn();
  for (let i = 0; i < 100; i++) {
    tracker.release('a', 1000);
    clock.advance(30);
    tracker.acquire('a');
    t.ok(clock.pendingTimers <= 1, 'at most one linger timer');
  }
  tracker.release('a', 1000);
  clock.advance(999);
  clock.endTurn();
  t.same(edges, [['sub', ['a']]], 'still lingering 999 ms after the last release');
  clock.advance(1);
  clock.endTurn();
  t.same(edges, [['sub', ['a']], ['unsub', ['a']]], 'dropped at 1000 ms');
});

t.test('a shorter linger (a reload) is not held back by a timer armed for a longer one', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  clock.endTurn();
  tracker.release('a', 10_000);
  tracker.acquire('a');
  tracker.release('a', 100);
  clock.advance(100);
  clock.endTurn();
  t.same(edges, [['sub', ['a']], ['unsub', ['a']]]);
});

t.test('linger expiries firing in one turn batch together', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  tracker.acquire('b');
  clock.endTurn();
  tracker.release('a', 100);
  tracker.release('b', 200);
  clock.advance(300);
  clock.endTurn();
  t.same(edges, [['sub', ['a', 'b']], ['unsub', ['a', 'b']]]);
});

t.test('linger 0 unsubscribes at the next flush', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  clock.endTurn();
  tracker.release('a', 0);
  t.notOk(tracker.isDesired('a'));
  t.equal(clock.pendingTimers, 0);
  clock.endTurn();
  t.same(edges, [['sub', ['a']], ['unsub', ['a']]]);
});

t.test('release of an unheld channel is a no-op and never goes negative', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.release('x', 0);
  tracker.acquire('a');
  tracker.release('a', 0);
  tracker.release('a', 0);
  tracker.acquire('a');
  clock.endTurn();
  t.same(edges, [['sub', ['a']]]);
  t.ok(tracker.isDesired('a'));
});

t.test('desired() and size reflect held and lingering channels', async (t) => {
  const { tracker, clock } = setup();
  tracker.acquire('a');
  tracker.acquire('b');
  tracker.acquire('c');
  clock.endTurn();
  tracker.release('b', 100);
  tracker.release('c', 0);
  t.same([...tracker.desired()].sort(), ['a', 'b']);
  t.equal(tracker.size, 2);
  clock.advance(100);
  t.same([...tracker.desired()], ['a']);
  t.equal(tracker.size, 1);
});

t.test('close cancels timers and pending edges; later calls are ignored', async (t) => {
  const { tracker, clock, edges } = setup();
  tracker.acquire('a');
  clock.endTurn();
  tracker.acquire('b');
  tracker.release('a', 1000);
  tracker.close();
  t.equal(clock.pendingTimers, 0);
  clock.endTurn();
  clock.advance(2000);
  tracker.acquire('c');
  clock.endTurn();
  t.same(edges, [['sub', ['a']]]);
  t.equal(tracker.size, 0);
});

t.test('an edge sink that throws on unsubscribe still receives the subscribe list', async (t) => {
  const subs: string[][] = [];
  const clock = new FakeScheduler();
  const tracker = new InterestTracker(
    {
      subscribe: (list) => subs.push([...list]),
      unsubscribe: () => {
        throw new Error('boom');
      },
    },
    clock,
  );
  tracker.acquire('a');
  clock.endTurn();
  tracker.release('a', 0);
  tracker.acquire('b');
  t.throws(() => clock.endTurn(), /boom/);
  t.same(subs, [['a'], ['b']]);
});
