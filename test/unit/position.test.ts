import t from 'tap';
import { parseNotification } from '../../src/hub/durable-notification.js';
import { base64url48 } from '../../src/hub/fingerprint.js';
import { compareStreamIds, formatHead, formatMessageId, INVALID_POSITION, newTag, parsePosition } from '../../src/hub/position.js';

t.test('round trip', async (t) => {
  const tag = newTag(() => 0.5);
  t.match(tag, /^[a-z0-9]{4}$/);
  t.same(parsePosition(formatMessageId('Qm3x_a9Z', 17_000_000_000, tag, 123_456)), { kind: 'message', fp: 'Qm3x_a9Z', ds: 17_000_000_000, tag, seq: 123_456 });
  t.same(parsePosition(formatHead(42, 17_000_000_000, tag)), { kind: 'head', seq: 42, ds: 17_000_000_000, tag });
  t.ok(formatMessageId('Qm3x_a9Z', 17_000_000_000, tag, 36 ** 6 - 1).length <= 28, 'ids stay short (seq below 2 billion: 6 characters)');
});

t.test('message ids without the seq part (issued before it existed) still parse, located by fingerprint', async (t) => {
  t.same(parsePosition('Qm3x_a9Z.hx2k1p0.k3p9'), { kind: 'message', fp: 'Qm3x_a9Z', ds: parseInt('hx2k1p0', 36), tag: 'k3p9', seq: null });
});

t.test('ids of Herald before issue 10 are legacy (reset epoch)', async (t) => {
  t.same(parsePosition('lx3k9a7f2q:1042'), { kind: 'legacy' });
});

t.test('rejects malformed positions', async (t) => {
  for (const bad of ['', ':1', 'abc', 'abc:', 'abc:x', 'a:b:1', 'ABC:1', 'abc:-1', 'abc:1.5', 'Qm3x_a9Z.hx.aaa', 'Qm3x_a9.hx.aaaa', 'Qm3x_a9Z.HX.aaaa', '~x.hx.aaaa', 'Qm3x_a9Z.hx.aaaa.X', 'Qm3x_a9Z.hx.aaaa.', 'Qm3x_a9Z.hx.aaaa.1.2', '~1.hx.aaaa.1', 'Qm3x_a9Z.hx.aaaa.12345678901']) {
    t.equal(parsePosition(bad), INVALID_POSITION, bad);
  }
});

t.test('durable ids: the stream id, its life and its stream', async (t) => {
  t.same(parsePosition('1795690752763-0:3fa91c:Xy9_'), { kind: 'stream', text: '1795690752763-0:3fa91c:Xy9_', id: '1795690752763-0', ms: 1795690752763, epoch: '3fa91c', ck: 'Xy9_' });
  t.equal(parsePosition('1795690752763-0:3FA91C:Xy9_'), INVALID_POSITION, 'epoch is lowercase hex');
  t.ok(compareStreamIds('10-2', '9-5') > 0 && compareStreamIds('10-2', '10-10') < 0 && compareStreamIds('7-1', '7-1') === 0);
});

t.test('durable notifications: header parsed, anything else is a plain payload', async (t) => {
  const n = parseNotification(Buffer.from('\x1eherald1 3fa91c 1795690752763-4\nhello\nworld'));
  t.same(n && { epoch: n.epoch, id: n.id, body: n.body.toString() }, { epoch: '3fa91c', id: '1795690752763-4', body: 'hello\nworld' });
  for (const plain of ['hello', '\x1eherald1 nope', '\x1eherald1 3fa91c 12-x\nbody', '\x1eherald2 3fa91c 1-1\nbody']) {
    t.equal(parseNotification(Buffer.from(plain)), null, JSON.stringify(plain));
  }
});

t.test('the hand-written scanner accepts exactly the grammar (differential against regular expressions)', async (t) => {
  // The grammar as regular expressions (what the scanner replaced); random texts built from
  // the alphabet's edges must parse alike.
  const reference = (text: string): unknown => {
    let m = /^~(\d{1,15})\.([a-z0-9]{1,9})\.([a-z0-9]{4})$/.exec(text);
    if (m !== null) return { kind: 'head', seq: Number(m[1]), ds: parseInt(m[2]!, 36), tag: m[3] };
    m = /^([A-Za-z0-9_-]{8})\.([a-z0-9]{1,9})\.([a-z0-9]{4})(?:\.([a-z0-9]{1,10}))?$/.exec(text);
    if (m !== null) return { kind: 'message', fp: m[1], ds: parseInt(m[2]!, 36), tag: m[3], seq: m[4] === undefined ? null : parseInt(m[4], 36) };
    return /^[a-z0-9]{1,32}:\d{1,15}$/.test(text) ? { kind: 'legacy' } : text.includes(':') ? 'skip' : { kind: 'invalid' };
  };
  // Each part drawn from valid and near-valid forms (length and alphabet edges), joined by dots.
  const anchors = ['Qm3x_a9Z', 'AZaz09-_', 'Qm3x_a9', 'Qm3x_a9Z9', 'Qm3x/a9Z', 'Qm3x.a9Z', '~0', '~123456789012345', '~1234567890123456', '~', '~1a', ''];
  const times = ['hx2k1p0', '0', 'zzzzzzzzz', 'zzzzzzzzzz', 'HX', 'h-x', '', '9é'];
  const tags = ['k3p9', '0000', 'zzzz', 'k3p', 'k3p99', 'K3P9', 'k_p9', ''];
  const seqs = [null, null, '0', '2bq', 'zzzzzzzzzz', 'zzzzzzzzzzz', 'X', '', '1:2'];
  let state = 11;
  const pick = <T>(list: readonly T[]): T => list[(state = (state * 1103515245 + 12345) % 2147483648) % list.length]!;
  let compared = 0;
  let valid = 0;
  for (let i = 0; i < 20_000; i++) {
    const seq = pick(seqs);
    let text = [pick(anchors), pick(times), pick(tags), ...(seq === null ? [] : [seq])].join('.');
    if (i % 10 === 0) text = text.slice(pick([0, 1, 2])) + pick(['', '.', '.1', ':1', 'a']);
    const want = reference(text);
    if (want === 'skip') continue; // durable ids have their own expression and tests
    compared++;
    if ((want as { kind: string }).kind !== 'invalid') valid++;
    const got = parsePosition(text);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.fail(`${JSON.stringify(text)}: ${JSON.stringify(got)} ≠ ${JSON.stringify(want)}`);
      return;
    }
  }
  t.ok(compared > 15_000 && valid > 1_000, `${compared} texts compared, ${valid} of them valid`);
  for (const text of ['Qm3x_a9Z.hx2k1p0.k3p9.zzzzzzzzzz', '~123456789012345.zzzzzzzzz.0000']) t.same(parsePosition(text), reference(text), text);
});

t.test('fingerprint text: base64url48 is Buffer base64url of the 6 big-endian bytes (ids stay comparable with earlier versions)', async (t) => {
  const bytes = Buffer.alloc(6);
  const reference = (d: number): string => {
    bytes.writeUIntBE(d, 0, 6);
    return bytes.toString('base64url');
  };
  const edges = [0, 1, 4095, 4096, 2 ** 24 - 1, 2 ** 24, 2 ** 36, 2 ** 47, 2 ** 48 - 1];
  for (const d of edges) t.equal(base64url48(d), reference(d), `d = ${d}`);
  let seed = 3;
  const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
  let mismatches = 0;
  for (let i = 0; i < 20_000; i++) {
    const d = Math.floor(random() * 2 ** 24) * 2 ** 24 + Math.floor(random() * 2 ** 24);
    if (base64url48(d) !== reference(d)) mismatches++;
  }
  t.equal(mismatches, 0, '20,000 random 48-bit values');
});
