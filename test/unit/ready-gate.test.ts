import { EventEmitter } from 'node:events';
import t from 'tap';
import { ReadyGate } from '../../src/broker/redis-link.js';

// A publish waiting for the publisher link: true once 'ready' comes, false at the bound, one
// listener on the connection however many wait.

class FakeLink extends EventEmitter {
  status = 'reconnecting';
  becomeReady(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

t.test('ready already: true at once', async (t) => {
  const link = new FakeLink();
  link.status = 'ready';
  t.equal(await new ReadyGate(link).wait(0), true);
});

t.test('still reconnecting at the bound: false, and the waiter is gone', async (t) => {
  const link = new FakeLink();
  const gate = new ReadyGate(link);
  const started = performance.now();
  t.equal(await gate.wait(30), false);
  t.ok(performance.now() - started >= 25, 'waited for the bound');
  link.becomeReady();
  t.equal(await gate.wait(30), true, 'a later wait sees the link ready');
});

t.test('many waiting: all woken by one ready, through one listener', async (t) => {
  const link = new FakeLink();
  const gate = new ReadyGate(link);
  const waits = Array.from({ length: 50 }, () => gate.wait(5000));
  t.equal(link.listenerCount('ready'), 1, 'one listener for 50 waiting publishes');
  setTimeout(() => link.becomeReady(), 10);
  t.same(await Promise.all(waits), Array(50).fill(true));
});
