import t from 'tap';
import { createLogger } from '../../src/log.js';
import { HoldWheel, type Held } from '../../src/transport/hold-wheel.js';
import { FakeScheduler } from '../helpers/fake-scheduler.js';

/** A held item named for the assertions. */
class Item implements Held {
  holdSlot = -1;
  holdIndex = -1;
  constructor(readonly name: string) {}
}

/** A wheel on the fake clock that records, per expiry, the time and the tick it happened in. */
function wheelOn(clock: FakeScheduler, resolutionMs: number, onExpire: (item: string) => void = () => {}, lines: string[] = []) {
  const expired: { item: string; at: number; tick: number }[] = [];
  let tick = 0;
  const timers = {
    setTimeout: (fn: () => void, ms: number) =>
      clock.setTimeout(() => {
        tick++;
        fn();
      }, ms),
    clearTimeout: (h: unknown) => clock.clearTimeout(h),
  };
  const log = createLogger('error', (line) => lines.push(line));
  const record = (item: Item): void => {
    expired.push({ item: item.name, at: clock.now, tick });
    onExpire(item.name);
  };
  const wheel = new HoldWheel<Item>(() => clock.now, record, log, resolutionMs, timers);
  const items = new Map<string, Item>();
  const named = (name: string): Item => items.get(name) ?? (items.set(name, new Item(name)), items.get(name)!);
  return { wheel: { add: (name: string, ms: number) => wheel.add(named(name), ms), remove: (name: string) => wheel.remove(named(name)), get size() { return wheel.size; }, stop: () => wheel.stop(), raw: wheel, named }, expired };
}

t.test('items expire at or after their deadline, at most one slot late, one pass per slot', async (t) => {
  const clock = new FakeScheduler();
  const { wheel, expired } = wheelOn(clock, 20);
  const deadlines: Record<string, number> = { a: 60, b: 60, d: 45, c: 100, gone: 30 };
  for (const [item, ms] of Object.entries(deadlines)) wheel.add(item, ms);
  wheel.remove('gone');
  t.equal(wheel.size, 4);
  t.equal(clock.pendingTimers, 1, 'one timer for the whole wheel, not one per item');

  clock.advance(59);
  t.same(expired, [], 'nothing before the first slot boundary at or after a deadline');
  clock.advance(1);
  t.same(expired.map((e) => e.item).sort(), ['a', 'b', 'd'], 'the 45 and 60 ms items share the slot ending at 60');
  t.equal(new Set(expired.map((e) => e.tick)).size, 1, 'all three in one pass');
  clock.advance(39);
  t.equal(expired.length, 3, 'c is not early');
  clock.advance(1);
  t.equal(expired.at(-1)!.item, 'c', 'c expires at 100');
  for (const e of expired) {
    t.ok(e.at >= deadlines[e.item]!, `${e.item} not early`);
    t.ok(e.at - deadlines[e.item]! < 20, `${e.item} at most one slot late`);
  }
  t.equal(expired.find((e) => e.item === 'gone'), undefined, 'a removed item never expires');
  t.equal(wheel.size, 0);
  t.equal(clock.pendingTimers, 0, 'the tick stops when nothing is held');
  wheel.stop();
});

t.test('a throwing expiry is logged and the wheel keeps ticking', async (t) => {
  const clock = new FakeScheduler();
  const lines: string[] = [];
  const { wheel, expired } = wheelOn(clock, 10, (item) => {
    if (item === 'bad') throw new Error('boom');
  }, lines);
  wheel.add('bad', 10);
  wheel.add('later', 50);
  clock.advance(10);
  t.match(lines.join(''), /hold wheel tick failed/, 'the throw is logged, not thrown out of the timer');
  clock.advance(40);
  t.ok(expired.some((e) => e.item === 'later'), 'later items still expire');
  t.equal(clock.pendingTimers, 0);
});

t.test('removal swaps within a bucket; an expiry that removes another due item keeps it from expiring', async (t) => {
  const clock = new FakeScheduler();
  let removeFromCallback: (() => void) | null = null;
  const { wheel, expired } = wheelOn(clock, 10, () => {
    removeFromCallback?.();
    removeFromCallback = null;
  });
  for (const name of ['a', 'b', 'c', 'd', 'e']) wheel.add(name, 10);
  wheel.remove('b'); // e moves into b's place
  wheel.remove('a'); // d moves into a's place
  wheel.remove('a'); // twice: nothing
  t.equal(wheel.size, 3);
  removeFromCallback = () => {
    // the first expiry of the pass removes whichever of the others comes later in the bucket
    const rest = ['c', 'd', 'e'].filter((n) => !expired.some((e) => e.item === n));
    wheel.remove(rest.at(-1)!);
  };
  clock.advance(10);
  t.equal(expired.length, 2, 'three were due, one was removed by the first expiry');
  t.equal(new Set(expired.map((e) => e.item)).size, 2, 'none twice');
  t.equal(wheel.size, 0);
  t.equal(clock.pendingTimers, 0, 'nothing held: no tick');
  wheel.add('c', 30); // expired items can be held again
  t.equal(wheel.size, 1);
  clock.advance(30);
  t.equal(expired.at(-1)!.item, 'c');
  t.equal(wheel.size, 0);
});
