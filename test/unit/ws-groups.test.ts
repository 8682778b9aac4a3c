import t from 'tap';
import { GROUP_LINGER_MS, TopicGroups } from '../../src/transport/ws-groups.js';
import type { PendingJoin, SubGroup, WsConn } from '../../src/transport/ws-conn.js';

/** The part of a topic group TopicGroups reads: its topic and what still uses it. */
function group(topic: string): SubGroup {
  const members = new Set<WsConn>();
  return {
    topic,
    members,
    pending: [] as PendingJoin[],
    resuming: 0,
    unusedSinceMs: -1,
    addMember: (c: WsConn) => void members.add(c),
    deleteMember: (c: WsConn) => void members.delete(c),
  } as unknown as SubGroup;
}

const socket = {} as WsConn;

function setup() {
  let now = 1_000;
  const released: string[] = [];
  const groups = new TopicGroups<SubGroup>(() => now, (g) => released.push(g.topic));
  return { groups, released, advance: (ms: number) => (now += ms) };
}

t.test('a group no socket uses is released by the first sweep after its linger, once', async (t) => {
  const { groups, released, advance } = setup();
  const a = group('a');
  groups.add(a);
  a.addMember(socket);
  groups.left(a);
  groups.sweep();
  t.same(released, [], 'still used: not listed');
  a.deleteMember(socket);
  groups.left(a);
  groups.left(a);
  advance(GROUP_LINGER_MS - 1);
  groups.sweep();
  t.same(released, [], 'inside the linger');
  t.equal(groups.get('a'), a);
  advance(1);
  groups.sweep();
  t.same(released, ['a'], 'released once, though it was found unused twice');
  t.equal(groups.get('a'), undefined);
  t.equal(groups.size, 0);
  advance(GROUP_LINGER_MS);
  groups.sweep();
  t.same(released, ['a']);
});

t.test('a socket that comes back within the linger keeps the group; leaving again starts a new linger', async (t) => {
  const { groups, released, advance } = setup();
  const a = group('a');
  groups.add(a);
  groups.left(a);
  advance(GROUP_LINGER_MS / 2);
  a.addMember(socket);
  advance(GROUP_LINGER_MS);
  groups.sweep();
  t.same(released, [], 'in use at the sweep');
  t.equal(a.unusedSinceMs, -1, 'no longer listed');
  a.deleteMember(socket);
  groups.left(a);
  advance(GROUP_LINGER_MS / 2);
  groups.sweep();
  t.same(released, [], 'the new linger counts from the last leave');
  advance(GROUP_LINGER_MS / 2);
  groups.sweep();
  t.same(released, ['a']);
});

t.test('pending joins and resumes keep a group; a group replaced in the map is not released for its topic', async (t) => {
  const { groups, released, advance } = setup();
  const a = group('a');
  const b = group('b');
  groups.add(a);
  groups.add(b);
  (a.pending as PendingJoin[]).push({} as PendingJoin);
  b.resuming = 1;
  groups.left(a);
  groups.left(b);
  advance(GROUP_LINGER_MS);
  groups.sweep();
  t.same(released, [], 'neither was unused');
  a.pending = [];
  groups.left(a);
  const a2 = group('a');
  groups.add(a2);
  advance(GROUP_LINGER_MS);
  groups.sweep();
  t.same(released, [], 'the map holds another group for the topic now');
  t.equal(groups.get('a'), a2);
});
