import t from 'tap';
import { ConnectionLimiter } from '../../src/transport/connection-limit.js';

t.test('a limit counts per IP and frees a slot on release', async (t) => {
  const l = new ConnectionLimiter(2);
  t.ok(l.counting);
  t.ok(l.admit('1.2.3.4'));
  t.ok(l.admit('1.2.3.4'));
  t.notOk(l.admit('1.2.3.4'), 'the third is refused');
  t.ok(l.admit('5.6.7.8'), 'another IP has its own slots');
  l.release('1.2.3.4');
  t.ok(l.admit('1.2.3.4'), 'a released slot is free again');
});

t.test('max 0: no limit and no counting, so transports need not read the peer address', async (t) => {
  const l = new ConnectionLimiter(0);
  t.notOk(l.counting);
  for (let i = 0; i < 1000; i++) t.ok(l.admit(''));
  l.release('');
  // A reload that turns the limit on counts the connections opened from then on.
  l.setMax(1);
  t.ok(l.counting);
  l.release('9.9.9.9'); // one opened while unlimited: nothing to release
  t.ok(l.admit('9.9.9.9'));
  t.notOk(l.admit('9.9.9.9'), 'the limit holds for new connections');
  // Turned off again: connections still open release normally, new ones are not counted.
  l.setMax(0);
  l.release('9.9.9.9');
  t.ok(l.admit('9.9.9.9'));
  l.setMax(1);
  t.ok(l.admit('9.9.9.9'), 'the released slot was not leaked');
});
