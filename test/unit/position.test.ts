import t from 'tap';
import { formatHead, formatMessageId, INVALID_POSITION, newTag, parsePosition } from '../../src/hub/position.js';

t.test('round trip', async (t) => {
  const tag = newTag(() => 0.5);
  t.match(tag, /^[a-z0-9]{4}$/);
  t.same(parsePosition(formatMessageId('Qm3x_a9Z', 17_000_000_000, tag)), { kind: 'message', fp: 'Qm3x_a9Z', ds: 17_000_000_000, tag });
  t.same(parsePosition(formatHead(42, 17_000_000_000, tag)), { kind: 'head', seq: 42, ds: 17_000_000_000, tag });
  t.ok(formatMessageId('Qm3x_a9Z', 17_000_000_000, tag).length <= 21, 'ids stay short');
});

t.test('ids of Herald before issue 10 are legacy (reset epoch)', async (t) => {
  t.same(parsePosition('lx3k9a7f2q:1042'), { kind: 'legacy' });
});

t.test('rejects malformed positions', async (t) => {
  for (const bad of ['', ':1', 'abc', 'abc:', 'abc:x', 'a:b:1', 'ABC:1', 'abc:-1', 'abc:1.5', 'Qm3x_a9Z.hx.aaa', 'Qm3x_a9.hx.aaaa', 'Qm3x_a9Z.HX.aaaa', '~x.hx.aaaa', 'Qm3x_a9Z.hx.aaaa.x']) {
    t.equal(parsePosition(bad), INVALID_POSITION, bad);
  }
});
