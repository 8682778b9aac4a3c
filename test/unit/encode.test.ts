import t from 'tap';
import { jsonString } from '../../src/encode/json-string.js';
import { encodePollBody, encodePollElement } from '../../src/encode/poll.js';
import { encodeSseComment, encodeSseControl, encodeSseEvent, encodeSseRetry, isSafeEventName } from '../../src/encode/sse.js';
import { encodeWsControl, encodeWsMessage, encodeWsSubscribed } from '../../src/encode/ws.js';

t.test('SSE framing, byte exact', async (t) => {
  t.equal(encodeSseEvent('e:1', '', 'hello'), 'id: e:1\ndata: hello\n\n');
  t.equal(encodeSseEvent('e:2', 'post.deleted', '{}'), 'id: e:2\nevent: post.deleted\ndata: {}\n\n');
  t.equal(encodeSseEvent('e:3', '', 'a\nb'), 'id: e:3\ndata: a\ndata: b\n\n');
  t.equal(encodeSseEvent('e:4', '', 'a\r\nb\rc'), 'id: e:4\ndata: a\ndata: b\ndata: c\n\n', 'every line terminator splits');
  t.equal(encodeSseEvent('e:5', '', '\n\nx\n'), 'id: e:5\ndata: \ndata: \ndata: x\ndata: \n\n');
  t.equal(encodeSseEvent('e:6', '', ''), 'id: e:6\ndata: \n\n');
  t.equal(encodeSseEvent('e:7', '', 'data: x'), 'id: e:7\ndata: data: x\n\n');
  t.equal(encodeSseComment('hb\nx'), ': hb x\n\n', 'a comment cannot break out of its line');
  t.equal(encodeSseRetry(1500.7), 'retry: 1500\n\n');
  t.equal(encodeSseControl('reset', 'e:9', '{"a":1}'), 'id: e:9\nevent: reset\ndata: {"a":1}\n\n');
  t.equal(encodeSseControl('reconnect', '', '{}'), 'event: reconnect\ndata: {}\n\n');
});

t.test('event names forwarded from payloads are restricted', async (t) => {
  for (const ok of ['a', 'post.deleted', 'x:y-z_1']) t.ok(isSafeEventName(ok), ok);
  for (const bad of ['', 'a b', 'a\nb', 'x'.repeat(65), 'é']) t.notOk(isSafeEventName(bad), JSON.stringify(bad));
});

t.test('poll element and WS envelope are built from the same JSON text', async (t) => {
  const el = encodePollElement('c:"q"', 'e:1', '', '"text"', true);
  t.same(JSON.parse(el), { channel: 'c:"q"', id: 'e:1', data: 'text' });
  t.same(JSON.parse(encodeWsMessage(el)), { type: 'message', channel: 'c:"q"', id: 'e:1', data: 'text' });
  const withEvent = encodePollElement('c', 'e:2', 'evt', '{"raw":true}', true);
  t.same(JSON.parse(withEvent), { channel: 'c', id: 'e:2', event: 'evt', data: { raw: true } });
  t.same(JSON.parse(encodePollBody([el, withEvent], 'e:2', [])), { messages: [JSON.parse(el), JSON.parse(withEvent)], cursor: 'e:2' });
  t.same(JSON.parse(encodePollBody([], 'e:3', [{ channel: 'c', reason: 'epoch' }])), { messages: [], cursor: 'e:3', reset: [{ channel: 'c', reason: 'epoch' }] });
});

t.test('NDJSON control lines', async (t) => {
  const { encodeNdjsonControl } = await import('../../src/encode/ndjson.js');
  t.equal(encodeNdjsonControl('reset', 'e:4', '{"channel":"c","reason":"epoch"}'), '{"type":"reset","position":"e:4","channel":"c","reason":"epoch"}\n');
  t.equal(encodeNdjsonControl('end', '', '{}'), '{"type":"end"}\n');
  t.same(JSON.parse(encodeNdjsonControl('reconnect', '', '{"reason":"draining"}')), { type: 'reconnect', reason: 'draining' });
});

t.test('a poll body is the bytes of its plain definition, for none, one or several messages and any cursor', async (t) => {
  const els = [encodePollElement('c', 'e:1', '', '"a"', true), encodePollElement('d', 'e:2', 'evt', '{"b":1}', true)];
  const resets = [{ channel: 'c', reason: 'evicted' }];
  for (const cursor of ['k3x9a.4f2.ab1c.7', '~12.4f2.ab1c', 'x","evil":1,"y', 'back\\slash', 'ctl\u0001', 'lone\ud800']) {
    for (const list of [[], els.slice(0, 1), els]) {
      for (const r of [[], resets]) {
        const expected = '{"messages":[' + list.join(',') + '],"cursor":' + JSON.stringify(cursor) + (r.length > 0 ? ',"reset":' + JSON.stringify(r) : '') + '}';
        t.equal(encodePollBody(list, cursor, r), expected, `${list.length} messages, cursor ${JSON.stringify(cursor)}, ${r.length} resets`);
      }
    }
  }
});

t.test('a poll body stays valid JSON whatever the cursor text', async (t) => {
  const body = encodePollBody([], 'x","evil":1,"y', []);
  t.same(JSON.parse(body), { messages: [], cursor: 'x","evil":1,"y' });
});

t.test('the subscribed frame: the bytes of the generic control encoder, escapes included', async (t) => {
  const channels = ['news', 'a:b-c_d.e', 'q"uote\\slash', 'caf\u00e9', 'line\nbreak'];
  const ids = [null, '1', 'x"y', '\u2028', ''];
  for (const [c, channel] of channels.entries()) {
    for (const [i, id] of ids.entries()) {
      const position = 'k3x9a.4f2.ab1c.7';
      const fields: Record<string, string> = { channel, position };
      if (id !== null) fields.id = id;
      t.equal(encodeWsSubscribed(channel, position, id), encodeWsControl('subscribed', fields), `channel ${c}, id ${i}`);
    }
  }
});

t.test('jsonString writes what JSON.stringify writes', async (t) => {
  const samples = ['', 'plain', 'bench:c1', '@12,345;' + 'x'.repeat(56), 'quote " inside', 'back\\slash', 'tab\tand\nnewline', '\u0000\u001f\u007f', 'ünïcødé', '日本語', 'emoji 😀 pair', 'lone \ud800 high', 'lone \udfff low', '\u2028\u2029', '</script>'];
  // Labels by index: U+2028 in a label would end the TAP line.
  for (const [i, s] of samples.entries()) t.equal(jsonString(s), JSON.stringify(s), `sample ${i}`);
  let seed = 11;
  const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  let mismatches = 0;
  for (let i = 0; i < 5000; i++) {
    const units = Array.from({ length: random(12) }, () => [random(0x80), random(0x10000), 0x22, 0x5c, 0xd83d, 0xde00][random(6)]!);
    const s = String.fromCharCode(...units);
    if (jsonString(s) !== JSON.stringify(s)) mismatches++;
  }
  t.equal(mismatches, 0, '5,000 random strings, with quotes, backslashes, controls and surrogates');
});
