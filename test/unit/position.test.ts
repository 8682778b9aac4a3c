import t from 'tap';
import { formatPosition, newEpoch, parsePosition } from '../../src/hub/position.js';

t.test('round trip', async (t) => {
  const epoch = newEpoch(1_700_000_000_000, () => 0.5);
  t.match(epoch, /^[a-z0-9]+$/);
  t.same(parsePosition(formatPosition(epoch, 42)), { epoch, seq: 42 });
});

t.test('rejects malformed positions', async (t) => {
  for (const bad of ['', ':1', 'abc', 'abc:', 'abc:x', 'a:b:1', 'ABC:1', 'abc:-1', 'abc:1.5', 'abc:1234567890123456']) {
    t.equal(parsePosition(bad), null, bad);
  }
});
