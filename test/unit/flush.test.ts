import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createLogger } from '../../src/log.js';
import { FlushQueue, type Flushable } from '../../src/transport/flush.js';

// Issue 9: one item that threw dropped the rest of the pass, and those items stayed
// registered ("dirty") forever, so they never flushed again.

/** An item shaped like StreamConnection: registers once per turn, clears its flag in flush(). */
class Item implements Flushable {
  flushed = 0;
  private dirty = false;
  constructor(
    private readonly queue: FlushQueue,
    private readonly fails = false,
  ) {}
  touch(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.queue.add(this);
  }
  flush(): void {
    this.dirty = false;
    this.flushed++;
    if (this.fails) throw new Error('write failed');
  }
}

t.test('an item that throws is logged; the rest of the pass flushes, and flushes again later', async (t) => {
  const lines: string[] = [];
  let passes = 0;
  const queue = new FlushQueue(createLogger('error', (l) => lines.push(l)), () => passes++);
  const bad = new Item(queue, true);
  const before = new Item(queue);
  const after = new Item(queue);
  before.touch();
  bad.touch();
  after.touch();
  await nextTurn();
  t.equal(before.flushed, 1);
  t.equal(after.flushed, 1, 'the item after the throwing one was flushed in the same pass');
  t.equal(passes, 1, 'the pass still reports its end');
  t.match(lines.join(''), /"msg":"flush failed"/);
  after.touch();
  bad.touch();
  await nextTurn();
  t.equal(after.flushed, 2, 'and it registers and flushes again next time');
  t.equal(bad.flushed, 2);
});
