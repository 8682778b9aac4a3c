// TopicGroup.deliver's choice between one uWS topic publish and a ws.send to each socket
// (src/transport/ws-topics.ts): a quiet channel's message goes to each socket at once; the
// rest of a burst, and a busy channel even after a stall, take the topic; a channel with one
// socket sends the first message of each millisecond directly. What reaches the sockets, and
// in what order, is tested end to end in test/integration/ws.test.ts.
import t from 'tap';
import type { PreparedMessage } from '../../src/hub/message.js';
import type { Route } from '../../src/rules/router.js';
import type { WsConn } from '../../src/transport/ws-conn.js';
import { BUSY_MS, QUIET_MS, TopicGroup, type TopicOwner } from '../../src/transport/ws-topics.js';

function setup(sockets: number) {
  const calls: string[] = [];
  const owner: TopicOwner = {
    publish: (_g, frame, isMessage) => void calls.push(`topic ${frame}${isMessage ? '' : ' (control)'}`),
    sendEach: (g, frame) => void calls.push(`each ${frame}${g.members.size === 1 ? ' (only)' : ''}`),
    activatePending: () => {},
  };
  const group = new TopicGroup(owner, {} as Route, 'topic');
  for (let i = 0; i < sockets; i++) group.addMember({ id: i } as unknown as WsConn);
  const at = (ms: number, frame: string): void => group.deliver({ receivedAtMs: ms, ws: frame } as unknown as PreparedMessage);
  return { calls, group, at };
}

t.test('many sockets: a quiet message goes to each at once, the rest of its burst through the topic', async (t) => {
  const { calls, at } = setup(3);
  at(1000, 'a'); // the first ever: quiet
  at(1000, 'b'); // same read
  at(1005, 'c'); // 5 ms later: still the burst
  at(1005 + BUSY_MS, 'd'); // quiet again, and no topic publish for BUSY_MS
  at(1005 + BUSY_MS + QUIET_MS, 'e'); // quiet: QUIET_MS after d, which went directly
  t.same(calls, ['each a', 'topic b', 'topic c', 'each d', 'each e']);
});

t.test('a busy channel stays on its topic after a stall, until BUSY_MS without a topic publish', async (t) => {
  const { calls, at } = setup(2);
  at(0, 'a');
  for (let ms = 1; ms <= 10; ms++) at(ms, `m${ms}`); // busy: 1 a ms
  at(10 + QUIET_MS + 5, 'after-stall'); // a backlog's first message after a 25 ms stall
  at(10 + QUIET_MS + 5 + BUSY_MS, 'quiet'); // BUSY_MS after the last topic publish
  t.equal(calls[0], 'each a');
  t.same(calls.slice(1, 11), Array.from({ length: 10 }, (_, i) => `topic m${i + 1}`));
  t.equal(calls[11], 'topic after-stall', 'the stall does not make a busy channel quiet');
  t.equal(calls[12], 'each quiet');
});

t.test('one socket: the first message of each millisecond directly, the rest through the topic', async (t) => {
  const { calls, at } = setup(1);
  at(7, 'a');
  at(7, 'b');
  at(8, 'c');
  at(8, 'd');
  at(9, 'e');
  t.same(calls, ['each a (only)', 'topic b', 'each c (only)', 'topic d', 'each e (only)']);
});

t.test('no socket: nothing is sent; a reset always takes the topic', async (t) => {
  const empty = setup(0);
  empty.at(1, 'a');
  t.same(empty.calls, []);
  const two = setup(2);
  two.group.reset('ch', 'broker_gap', '~1.a.t');
  t.equal(two.calls.length, 1);
  t.match(two.calls[0], /^topic .*"reset".* \(control\)$/);
});
