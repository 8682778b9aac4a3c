import t from 'tap';
import { SessionSet } from '../../src/transport/lifecycle/session-set.js';

const member = (name: string) => ({ name, sessionSlot: -1 });

t.test('add, delete (swap with the last), size', async (t) => {
  const set = new SessionSet<ReturnType<typeof member>>();
  const [a, b, c] = [member('a'), member('b'), member('c')];
  set.add(a);
  set.add(b);
  set.add(c);
  set.add(b);
  t.equal(set.size, 3, 'adding a member twice keeps one');
  t.equal(set.delete(a), true);
  t.equal(a.sessionSlot, -1, 'a deleted member holds no slot');
  t.equal(set.delete(a), false, 'a second delete is a no-op');
  t.same([...set].map((m) => m.name), ['c', 'b'], 'the last moved into the hole');
  t.equal(c.sessionSlot, 0);
  t.same(new Set(set), new Set([b, c]), 'b and c are members, a is not');
  t.equal(set.delete(c), true);
  t.equal(set.delete(b), true);
  t.equal(set.size, 0);
  set.add(a);
  t.same([...set].map((m) => m.name), ['a'], 'a deleted member can come back (a pooled poll waiter)');
});

t.test('a member of another set is not deleted here', async (t) => {
  const one = new SessionSet<ReturnType<typeof member>>();
  const two = new SessionSet<ReturnType<typeof member>>();
  const a = member('a');
  const b = member('b');
  one.add(a);
  two.add(b);
  t.equal(two.delete(a), false, 'slot 0 of `two` holds b, not a');
  t.equal(two.size, 1);
  t.equal(one.size, 1);
});

t.test('iteration visits every member once even when the loop deletes as it goes', async (t) => {
  const set = new SessionSet<ReturnType<typeof member>>();
  const all = Array.from({ length: 50 }, (_, i) => member(String(i)));
  for (const m of all) set.add(m);
  const seen: string[] = [];
  for (const m of set) {
    seen.push(m.name);
    set.delete(m);
    // Ending one session can end another (a slow consumer dropped mid-sweep).
    if (m.name === '10') set.delete(all[40]!);
  }
  t.equal(seen.length, 50, 'the walk is over the members at its start');
  t.equal(new Set(seen).size, 50);
  t.equal(set.size, 0);
});
