import { createRequire } from 'node:module';
import t from 'tap';
import { PushReader, type PushKind } from '../../src/broker/push-reader.js';

// The oracle: ioredis' own parser (redis-parser), which the PushReader hands every other reply to.
interface Parser {
  execute(buf: Buffer): void;
}
type ParserClass = new (o: { returnBuffers: boolean; returnReply(r: unknown): void; returnError(e: Error): void; returnFatalError(e: Error): void }) => Parser;
const RedisParser = createRequire(import.meta.url)('redis-parser') as ParserClass;

const bulk = (b: Buffer | string): Buffer => {
  const bytes = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return Buffer.concat([Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n')]);
};
const array = (...items: Buffer[]): Buffer => Buffer.concat([Buffer.from(`*${items.length}\r\n`), ...items]);
const push = (kind: PushKind, channel: string, payload: Buffer | string): Buffer => array(bulk(kind), bulk(channel), bulk(payload));

/** What ioredis would see: every reply in order, as text; replies of arrays as JSON. */
function show(reply: unknown): string {
  if (Buffer.isBuffer(reply)) return reply.toString('latin1');
  if (Array.isArray(reply)) return JSON.stringify(reply.map(show));
  if (reply instanceof Error) return `error ${reply.message}`;
  return String(reply);
}

/**
 * Feeds `stream` in the given chunks. ioredis is modelled by a real parser behind passOn that
 * enters subscriber mode on a `subscribe`/`ssubscribe` reply and leaves it on `unsubscribe … 0`.
 */
function run(kind: PushKind, stream: Buffer, cuts: readonly number[], subscribed = false, borrowed = false): { events: string[]; passedBytes: Buffer[] } {
  const events: string[] = [];
  const passedBytes: Buffer[] = [];
  let isSubscriber = subscribed;
  const parser = new RedisParser({
    returnBuffers: true,
    returnReply: (r) => {
      const text = show(r);
      events.push(`reply ${text}`);
      if (Array.isArray(r) && /^s?subscribe$/.test(show(r[0]))) isSubscriber = true;
      if (Array.isArray(r) && /^s?unsubscribe$/.test(show(r[0])) && Number(r[2]) === 0) isSubscriber = false;
    },
    returnError: (e) => events.push(`reply error ${e.message}`),
    returnFatalError: (e) => events.push(`fatal ${e.message}`),
  });
  const reader = new PushReader(
    kind,
    (channel, payload) => events.push(`push ${channel} ${payload.toString('latin1')}`),
    (bytes) => {
      // Borrowed: kept as given, so a hand-over that is not a copy shows up as the garbage below.
      passedBytes.push(borrowed ? bytes : Buffer.from(bytes));
      parser.execute(bytes);
    },
    () => isSubscriber,
    borrowed,
  );
  // A borrowed chunk lives in one reused buffer (a socket's onread buffer), overwritten after each feed.
  const scratch = Buffer.alloc(stream.length);
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    if (cut > at) {
      if (borrowed) {
        stream.copy(scratch, 0, at, cut);
        reader.feed(scratch.subarray(0, cut - at));
        scratch.fill(0xee);
      } else {
        reader.feed(stream.subarray(at, cut));
      }
    }
    at = Math.max(at, cut);
  }
  return { events, passedBytes };
}

/** What the events must be: the oracle parses the whole stream; a push in subscriber mode is an event of its own. */
function expected(kind: PushKind, stream: Buffer, subscribed = false): string[] {
  const events: string[] = [];
  let isSubscriber = subscribed;
  const parser = new RedisParser({
    returnBuffers: true,
    returnReply: (r) => {
      if (isSubscriber && Array.isArray(r) && show(r[0]) === kind) {
        events.push(`push ${Buffer.from(r[1] as Buffer).toString('utf8')} ${show(r[2])}`);
        return;
      }
      events.push(`reply ${show(r)}`);
      if (Array.isArray(r) && /^s?subscribe$/.test(show(r[0]))) isSubscriber = true;
      if (Array.isArray(r) && /^s?unsubscribe$/.test(show(r[0])) && Number(r[2]) === 0) isSubscriber = false;
    },
    returnError: (e) => events.push(`reply error ${e.message}`),
    returnFatalError: (e) => events.push(`fatal ${e.message}`),
  });
  parser.execute(stream);
  return events;
}

const MIXED = Buffer.concat([
  Buffer.from('+OK\r\n'), // CLIENT SETNAME
  push('message', 'early', 'before the ack: a command reply, not a push'),
  array(bulk('subscribe'), bulk('chan'), Buffer.from(':1\r\n')),
  push('message', 'chan', 'one'),
  push('message', 'chan', 'two\r\nwith a CRLF and $3\r\n inside'),
  push('message', 'chan', ''),
  push('message', 'chäñ', Buffer.from([0, 1, 2, 255, 13, 10, 42])),
  array(bulk('pong'), bulk('')),
  Buffer.from('-ERR something refused\r\n'),
  push('smessage', 'chan', 'another kind: a reply on this link'),
  array(bulk('subscribe'), Buffer.from('$-1\r\n'), Buffer.from(':2\r\n')),
  array(array(Buffer.from(':1\r\n'), bulk('nested')), Buffer.from('*-1\r\n'), Buffer.from('*0\r\n')),
  push('message', 'chan', 'x'.repeat(300)),
  array(bulk('unsubscribe'), bulk('chan'), Buffer.from(':0\r\n')),
  push('message', 'chan', 'after the last unsubscribe: a reply again'),
]);

t.test('the oracle sees pushes and replies in order', async (t) => {
  const want = expected('message', MIXED);
  t.ok(want.includes('push chan one'));
  t.ok(want.some((e) => e.startsWith('reply ["message","early"')), 'a message before subscriber mode is a reply');
  t.ok(want.some((e) => e.startsWith('reply ["message","chan","after the last')), 'and after it ends');
  t.equal(want.filter((e) => e.startsWith('push ')).length, 5);
});

t.test('whole, and cut once at every byte: the same events in the same order', async (t) => {
  const want = expected('message', MIXED);
  t.same(run('message', MIXED, []).events, want, 'one chunk');
  let mismatches = 0;
  for (let cut = 1; cut < MIXED.length; cut++) {
    const got = run('message', MIXED, [cut]).events;
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      mismatches++;
      if (mismatches < 3) t.same(got, want, `cut at ${cut}`);
    }
  }
  t.equal(mismatches, 0, `${MIXED.length - 1} single cuts`);
});

t.test('one byte at a time, and random chunkings', async (t) => {
  const want = expected('message', MIXED);
  t.same(run('message', MIXED, Array.from({ length: MIXED.length }, (_, i) => i)).events, want, 'byte by byte');
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 200; round++) {
    const cuts = Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * MIXED.length)).sort((a, b) => a - b);
    const got = run('message', MIXED, cuts).events;
    if (JSON.stringify(got) !== JSON.stringify(want)) return t.same(got, want, `cuts ${cuts.join(',')}`);
  }
  t.pass('200 random chunkings');
});

t.test('borrowed chunks (one read buffer, overwritten after each feed): the same events, and ioredis gets copies', async (t) => {
  const want = expected('message', MIXED);
  const wantBytes = Buffer.concat(run('message', MIXED, []).passedBytes);
  t.ok(wantBytes.length > 0, 'some replies are handed on');
  let seed = 11;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const chunkings = [[], Array.from({ length: MIXED.length }, (_, i) => i)];
  for (let cut = 1; cut < MIXED.length; cut++) chunkings.push([cut]);
  for (let round = 0; round < 200; round++) {
    chunkings.push(Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * MIXED.length)).sort((a, b) => a - b));
  }
  let mismatches = 0;
  for (const cuts of chunkings) {
    const got = run('message', MIXED, cuts, false, true);
    const same = JSON.stringify(got.events) === JSON.stringify(want) && Buffer.concat(got.passedBytes).equals(wantBytes);
    if (!same && ++mismatches < 3) {
      t.same(got.events, want, `cuts ${cuts.join(',')}`);
      t.same(Buffer.concat(got.passedBytes).toString('latin1'), wantBytes.toString('latin1'), 'handed-on bytes intact after the buffer was reused');
    }
  }
  t.equal(mismatches, 0, `${chunkings.length} chunkings, whole, byte by byte, every single cut and random`);
});

t.test('borrowed: a large payload held across reads survives the buffer being reused', async (t) => {
  const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => 97 + (i % 26)));
  const stream = Buffer.concat([push('message', 'big', payload), push('message', 'big', 'small')]);
  const pushes: Array<[string, string]> = [];
  const reader = new PushReader('message', (c, p) => pushes.push([c, p.toString('latin1')]), () => t.fail('nothing to hand on'), () => true, true);
  const scratch = Buffer.alloc(65536);
  for (let at = 0; at < stream.length; at += scratch.length) {
    const n = stream.copy(scratch, 0, at, Math.min(stream.length, at + scratch.length));
    reader.feed(scratch.subarray(0, n));
    scratch.fill(0xee);
  }
  t.same(pushes, [['big', payload.toString('latin1')], ['big', 'small']]);
});

t.test('a shard link takes smessage pushes and hands message arrays on', async (t) => {
  const stream = Buffer.concat([
    array(bulk('ssubscribe'), bulk('{a}x'), Buffer.from(':1\r\n')),
    push('smessage', '{a}x', 'sharded'),
    push('message', '{a}x', 'not this link’s kind'),
  ]);
  const want = expected('smessage', stream);
  t.same(want[1], 'push {a}x sharded');
  for (let cut = 0; cut < stream.length; cut++) t.same(run('smessage', stream, [cut]).events, want);
});

t.test('only whole replies reach ioredis, never a push it did not get before', async (t) => {
  for (const cut of [3, 20, 40, 77, 150]) {
    const { passedBytes } = run('message', MIXED, [cut]);
    for (const bytes of passedBytes) {
      const replies: unknown[] = [];
      const parser = new RedisParser({ returnBuffers: true, returnReply: (r) => replies.push(r), returnError: (e) => replies.push(e), returnFatalError: (e) => replies.push(e) });
      parser.execute(bytes);
      t.ok(replies.length >= 1, `cut ${cut}: a hand-over of ${bytes.length} bytes is whole replies`);
      t.equal((parser as unknown as { buffer: Buffer | null }).buffer, null, 'nothing left half-parsed');
    }
  }
});

t.test('a reply it cannot frame hands the rest of the link to ioredis, byte for byte', async (t) => {
  const tail = Buffer.from('%1\r\n+key\r\n+value\r\n' + '*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n');
  const stream = Buffer.concat([array(bulk('subscribe'), bulk('c'), Buffer.from(':1\r\n')), push('message', 'c', 'before'), tail]);
  const { events, passedBytes } = run('message', stream, [60]);
  t.same(events.slice(0, 2), ['reply ["subscribe","c","1"]', 'push c before']);
  const handed = Buffer.concat(passedBytes);
  t.ok(handed.subarray(handed.length - tail.length).equals(tail), 'the unreadable reply and everything after it went to ioredis as they came');
  t.notOk(events.some((e) => e === 'push c p'), 'no push taken after it');
  // ioredis' parser after its fatal error depends on how the bytes were cut: borrowed is
  // compared with a stream of the same cuts.
  for (const cuts of [[60], [20, 60, 70], Array.from({ length: stream.length }, (_, i) => i)]) {
    const owned = run('message', stream, cuts);
    const borrowed = run('message', stream, cuts, false, true);
    t.same(borrowed.events, owned.events, `borrowed, ${cuts.length} cuts: the same events`);
    t.ok(Buffer.concat(borrowed.passedBytes).equals(Buffer.concat(owned.passedBytes)), 'and the same bytes, intact after the buffer was reused');
  }
});

t.test('a large payload in many chunks is joined once', async (t) => {
  const payload = Buffer.alloc(1 << 20, 'a');
  const stream = Buffer.concat([push('message', 'big', payload), push('message', 'big', 'small')]);
  const concat = Buffer.concat;
  let joins = 0;
  Buffer.concat = ((list: readonly Uint8Array[], length?: number) => {
    joins++;
    return concat(list, length);
  }) as typeof Buffer.concat;
  try {
    const pushes: Array<[string, number]> = [];
    const reader = new PushReader('message', (c, p) => pushes.push([c, p.length]), () => t.fail('nothing to hand on'), () => true);
    for (let at = 0; at < stream.length; at += 1000) reader.feed(stream.subarray(at, Math.min(stream.length, at + 1000)));
    t.same(pushes, [['big', payload.length], ['big', 5]]);
    t.ok(joins <= 3, `joined ${joins} times for ${Math.ceil(stream.length / 1000)} chunks`);
  } finally {
    Buffer.concat = concat;
  }
});
