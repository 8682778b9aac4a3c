import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { PreparedMessage } from '../../src/hub/message.js';

const message = (isJson = false, payload = 'héllo "x"'): PreparedMessage =>
  new PreparedMessage('news', 7, 'AAAAAAAA.1.ab12.7', payload, isJson, '', 0, 'AAAAAAAA', 1, 4, 1);

t.test('encodings: built once and shared within a turn, released two turns later, rebuilt the same', async (t) => {
  const m = message();
  const sse = m.sse;
  const ndjson = m.ndjson;
  t.equal(m.sse, sse, 'every subscriber of the turn gets the same buffer');
  t.equal(m.ndjson, ndjson);
  const ws = m.ws;
  const poll = m.poll;
  await nextTurn();
  t.equal(m.sse, sse, 'still cached in the next turn (a poll answer may read it in a later pass)');
  await nextTurn();
  await nextTurn();
  t.not(m.sse, sse, 'released: history does not keep a message\'s encodings');
  t.same(m.sse, sse, 'rebuilt byte for byte');
  t.same(m.ndjson, ndjson);
  t.equal(m.ws, ws);
  t.equal(m.poll, poll);
  t.same(JSON.parse(m.ws), { type: 'message', channel: 'news', id: 'AAAAAAAA.1.ab12.7', data: 'héllo "x"' });
});

t.test('encodings: a json payload is embedded as is, before and after a release', async (t) => {
  const m = message(true, '{"a":[1,2]}');
  t.ok(m.poll.endsWith(',"data":{"a":[1,2]}}'), 'the payload bytes as they came');
  t.same(JSON.parse(m.poll), { channel: 'news', id: 'AAAAAAAA.1.ab12.7', data: { a: [1, 2] } });
  m.release();
  t.same(JSON.parse(m.ws).data, { a: [1, 2] });
});

t.test('what a kept message stores compactly reads back exactly: fp, ds, receive time', async (t) => {
  const nowDs = Math.floor(Date.now() / 100);
  const cases: [id: string, fp: string, ds: number][] = [
    ['Ab3_-x9Z.k3x9a.ab12.7', 'Ab3_-x9Z', nowDs], // own id: the fp is its first part
    ['Ab3_-x9Z.k3x9a.ab12.7', 'Ab3_-x9', nowDs - 1], // a prefix that does not end at a dot
    ['s1a2b-1700000000000-0', 's1a2b-1700000000000-0', nowDs + 5], // a durable id: fp = id
    ['e:1', 'fp1', 0], // ids of another shape (tests), a ds long before start-up
    ['x.y', 'x.y', 17_000_000_000], // an fp with a dot is kept as given
  ];
  for (const [i, [id, fp, ds]] of cases.entries()) {
    const m = new PreparedMessage('news', 1, id, 'p', false, '', 1234.567, fp, ds, 4, 2 ** 47 + 3);
    t.equal(m.fp, fp, `case ${i}: fp`);
    t.equal(m.ds, ds, `case ${i}: ds`);
    t.equal(m.receivedAtMs, 1234, `case ${i}: whole ms`);
    t.equal(m.digest, 2 ** 47 + 3, `case ${i}: digest`);
  }
});
