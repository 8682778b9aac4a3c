import t from 'tap';
import type { PreparedMessage } from '../../src/hub/message.js';
import { Listed, type ResetReason, type Subscriber } from '../../src/hub/subscriber.js';
import { SubscriberList } from '../../src/hub/subscriber-list.js';

const message = {} as PreparedMessage;

class Sub extends Listed implements Subscriber {
  readonly transport = 'sse' as const;
  got = 0;
  resets: string[] = [];
  onDeliver: (() => void) | null = null;
  constructor(readonly name: string) {
    super();
  }
  deliver(): void {
    this.got++;
    this.onDeliver?.();
  }
  reset(channel: string, reason: ResetReason): void {
    this.resets.push(`${channel}:${reason}`);
  }
}

const subs = (n: number): Sub[] => Array.from({ length: n }, (_, i) => new Sub(`s${i}`));

t.test('add, a second add, delete (swap with the last), size', async (t) => {
  const list = new SubscriberList();
  const [a, b, c] = subs(3) as [Sub, Sub, Sub];
  list.add(a);
  list.add(b);
  list.add(c);
  list.add(b);
  t.equal(list.size, 3, 'adding twice keeps one');
  t.equal(list.delete(a), true);
  t.equal(list.delete(a), false, 'a second delete is a no-op');
  t.equal(a.listedIn, null);
  t.equal(c.listedSlot, 0, 'the last moved into the hole');
  list.deliverAll(message);
  t.same([a.got, b.got, c.got], [0, 1, 1]);
  t.equal(list.delete(c), true);
  t.equal(list.delete(b), true);
  t.equal(list.size, 0);
  list.add(a);
  list.deliverAll(message);
  t.equal(a.got, 1, 'a deleted subscriber can come back (a pooled poll waiter)');
});

t.test('one subscriber on several lists', async (t) => {
  const lists = Array.from({ length: 4 }, () => new SubscriberList());
  const [a, b] = subs(2) as [Sub, Sub];
  for (const list of lists) {
    list.add(b);
    list.add(a);
  }
  t.equal(a.listedElsewhere?.length, 3);
  t.equal(lists[2]!.delete(a), true);
  t.equal(lists[2]!.delete(a), false);
  t.equal(lists[0]!.delete(a), true, 'its first list, when it is on others');
  t.equal(lists[0]!.delete(b), true, 'b moves in a, then leaves');
  for (const list of lists) list.deliverAll(message);
  t.equal(a.got, 2, 'on lists 1 and 3 only');
  t.equal(b.got, 3, 'on lists 1, 2 and 3');
  t.equal(lists[3]!.delete(a), true);
  t.equal(lists[1]!.delete(a), true);
  t.same([a.listedIn, a.listedSlot, a.listedElsewhere], [null, -1, null], 'on no list: the fields a new subscriber starts with');
  t.equal(lists[2]!.delete(b), true);
  lists[1]!.deliverAll(message);
  lists[2]!.deliverAll(message);
  t.equal(b.got, 4, 'b still on list 1 (and list 3), not on 2');
});

t.test('a fan-out that ends subscribers as it goes: none skipped, none twice', async (t) => {
  for (let round = 0; round < 50; round++) {
    const list = new SubscriberList();
    const all = subs(12);
    for (const s of all) list.add(s);
    const removed = new Set<Sub>();
    const visitedBeforeRemoval = new Set<Sub>();
    // Each delivery removes itself or another member (visited or not), as a WebSocket publish
    // that closes a socket can.
    for (const [i, s] of all.entries()) {
      const victim = all[(i * 7 + round) % all.length]!;
      s.onDeliver = () => {
        if (!removed.has(victim) && (i + round) % 3 !== 0) {
          if (victim.got > 0) visitedBeforeRemoval.add(victim);
          removed.add(victim);
          list.delete(victim);
        }
      };
    }
    list.deliverAll(message);
    for (const s of all) {
      if (!removed.has(s)) t.equal(s.got, 1, `round ${round}: ${s.name} kept, delivered once`);
      else t.equal(s.got, visitedBeforeRemoval.has(s) ? 1 : 0, `round ${round}: ${s.name} removed, delivered once if before, never if after`);
      s.onDeliver = null;
    }
    t.equal(list.size, all.length - removed.size);
    for (const s of all) s.got = 0;
    list.deliverAll(message);
    for (const s of all) t.equal(s.got, removed.has(s) ? 0 : 1, `round ${round}: after the holes close, ${s.name} ${removed.has(s) ? 'gone' : 'still there'}`);
  }
});

t.test('a member added during a fan-out is delivered to later, never lost; resetAll reaches everyone', async (t) => {
  const list = new SubscriberList();
  const [a, b, late] = subs(3) as [Sub, Sub, Sub];
  list.add(a);
  list.add(b);
  a.onDeliver = () => list.delete(b);
  b.onDeliver = () => t.fail('b left before its turn');
  list.deliverAll(message);
  a.onDeliver = () => list.add(late);
  list.deliverAll(message);
  t.equal(list.size, 2);
  list.resetAll('c', 'broker_gap', 'p');
  t.same([a.resets, late.resets], [['c:broker_gap'], ['c:broker_gap']]);
});

t.test('a throwing subscriber still leaves the list consistent', async (t) => {
  const list = new SubscriberList();
  const [a, b, c] = subs(3) as [Sub, Sub, Sub];
  for (const s of [a, b, c]) list.add(s);
  a.onDeliver = () => {
    list.delete(b);
    throw new Error('contract broken');
  };
  t.throws(() => list.deliverAll(message));
  a.onDeliver = null;
  t.equal(list.size, 2);
  list.deliverAll(message);
  t.same([a.got, b.got, c.got], [2, 0, 1], 'the hole was closed: c still gets messages');
});
