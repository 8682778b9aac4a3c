import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createLogger } from '../../src/log.js';
import { DelayedFlushQueue, FlushQueue, topicDrain, type Delayable, type Flushable } from '../../src/transport/flush.js';

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

// Issue 15: a microtask pass wrote every stream and poll answer before uWS's end-of-iteration
// drain wrote the WebSocket frames of the same Redis read (mixed row: WebSocket p50 3.4–3.8 ms
// against Nchan's 0.8). Behind a topic publish the pass waits for that drain.

t.test('behind a topic publish the pass waits for the check phase, after an immediate queued before it, and once', async (t) => {
  const order: string[] = [];
  const queue = new FlushQueue(createLogger('error', () => {}), (n) => order.push(`pass of ${n}`));
  const a = new Item(queue);
  const b = new Item(queue);
  topicDrain.mark(); // what the WebSocket transport does after app.publish
  setImmediate(() => order.push('immediate queued after the publish'));
  a.touch();
  queueMicrotask(() => {
    order.push('microtask');
    b.touch(); // added while the pass waits: goes in the same pass
  });
  await nextTurn();
  await nextTurn();
  t.same(order, ['microtask', 'pass of 2', 'immediate queued after the publish'], 'the drain (uWS, then the release) comes first; one pass of both');
  order.length = 0;
  a.touch();
  await Promise.resolve();
  t.same(order, ['pass of 1'], 'the next iteration without a topic publish writes when the callback returns again');
});

t.test('a pass whose report throws is logged, and the next queue waiting behind the drain still runs', async (t) => {
  const lines: string[] = [];
  const log = createLogger('error', (l) => lines.push(l));
  const failing = new FlushQueue(log, () => {
    throw new Error('report failed');
  });
  let after = 0;
  const next = new FlushQueue(log, () => after++);
  const a = new Item(failing);
  const b = new Item(next);
  topicDrain.mark();
  a.touch();
  b.touch();
  await nextTurn();
  await nextTurn();
  t.equal(a.flushed, 1);
  t.equal(b.flushed, 1, 'the second queue ran after the first one threw');
  t.equal(after, 1);
  t.match(lines.join(''), /"msg":"flush pass report failed"/);
  b.touch();
  await Promise.resolve();
  t.equal(b.flushed, 2, 'and it is not left scheduled');
});

/** A Delayable that records when it was flushed. */
class Held implements Delayable {
  flushAtMs = 0;
  at: number[] = [];
  constructor(private readonly fails = false) {}
  flush(): void {
    this.at.push(Math.round(performance.now()));
    if (this.fails) throw new Error('write failed');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('the pass runs when the delivering callback returns, not in the check phase: an immediate queued first comes after it, and there is one pass', async (t) => {
  let passes = 0;
  const order: string[] = [];
  const queue = new FlushQueue(createLogger('error', () => {}), (n) => {
    passes++;
    order.push(`pass of ${n}`);
  });
  const a = new Item(queue);
  const b = new Item(queue);
  setImmediate(() => order.push('immediate queued before'));
  a.touch();
  b.touch();
  a.touch();
  order.push('callback ends');
  await nextTurn();
  await nextTurn();
  t.same(order, ['callback ends', 'pass of 2', 'immediate queued before'], 'one pass for both items, before the check phase');
  t.equal(passes, 1, 'no second, empty pass after the check phase');
  t.same([a.flushed, b.flushed], [1, 1]);
  b.touch();
  await Promise.resolve();
  t.equal(b.flushed, 2, 'a later delivery gets its own pass as soon as its callback returns');
});

t.test('the delayed queue flushes each item when due, under one timer, and a throw strands nothing', async (t) => {
  const lines: string[] = [];
  const flushedPerPass: number[] = [];
  const queue = new DelayedFlushQueue(createLogger('error', (l) => lines.push(l)), () => performance.now(), (n) => flushedPerPass.push(n));
  const start = performance.now();
  const late = new Held();
  const bad = new Held(true);
  const early = new Held();
  // Far apart, so a loaded machine that wakes the test late still finds the late one waiting.
  queue.add(late, start + 600);
  queue.add(bad, start + 30);
  queue.add(early, start + 30);
  t.equal(queue.size, 3);
  await sleep(200);
  t.same([bad.at.length, early.at.length, late.at.length], [1, 1, 0], 'the two due at 30 ms went; the one due at 600 ms waits');
  // Due means within 2 ms: the queue takes items due within SLACK_MS (1 ms) along, and Node's
  // timers run on libuv's loop clock, whole ms behind performance.now(), so they fire up to 1 ms early.
  t.ok(early.at[0]! - start >= 28, `not before it was due (${(early.at[0]! - start).toFixed(1)} ms)`);
  t.match(lines.join(''), /"msg":"flush failed"/, 'the throw was logged, and the item after it still flushed');
  t.equal(queue.size, 1);
  await sleep(600);
  t.equal(late.at.length, 1, 'the timer was re-armed for the later item');
  t.ok(late.at[0]! - start >= 598, `not before it was due (${(late.at[0]! - start).toFixed(1)} ms)`);
  t.same(flushedPerPass, [2, 1]);

  const dropped = new Held();
  queue.add(dropped, performance.now() + 20);
  queue.close();
  await sleep(50);
  t.same([dropped.at, queue.size], [[], 0], 'close drops what waits and its timer');
});
