import t from 'tap';
import { HoldWheel } from '../../src/transport/hold-wheel.js';

t.test('items expire at or after their deadline, in one pass per slot; removed ones never', async (t) => {
  const start = performance.now();
  const expired: [string, number][] = [];
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const wheel = new HoldWheel<string>(() => performance.now(), (item) => {
    expired.push([item, performance.now() - start]);
    if (expired.length === 3) done();
  }, 20);
  wheel.add('a', 60);
  wheel.add('b', 60);
  wheel.add('gone', 30);
  wheel.add('c', 100);
  wheel.remove('gone');
  t.equal(wheel.size, 3);
  // The wheel's ticker is unref'd (it must never keep a daemon alive): hold the loop here.
  const keepAlive = setTimeout(() => {}, 5000);
  await finished;
  clearTimeout(keepAlive);
  t.same(expired.map(([i]) => i).sort(), ['a', 'b', 'c']);
  for (const [item, at] of expired) t.ok(at >= (item === 'c' ? 100 : 60), `${item} not early (${at.toFixed(1)} ms)`);
  t.equal(wheel.size, 0, 'the ticker stops when nothing is held');
  wheel.stop();
});
