import t from 'tap';
import { SlotMap, slotOf } from '../../src/broker/redis-slots.js';

// CLUSTER SLOTS parsing and the slot of a channel name (hash tags), without a server.

const reply = [
  [0, 5460, ['10.0.0.1', 7000, 'id1'], ['10.0.0.4', 7003, 'id4']],
  [5461, 10922, ['', 7001, 'id2']],
  [10923, 16382, ['10.0.0.3', 7002, 'id3']],
  [16383, 16383, ['10.0.0.1', 7000, 'id1']],
];

t.test('CLUSTER SLOTS: owner per slot, masters, every node; an empty endpoint is the node asked', async (t) => {
  const map = SlotMap.fromClusterSlots(reply, { host: '10.0.0.2', port: 7001 });
  t.equal(map.ownerOf(0), '10.0.0.1:7000');
  t.equal(map.ownerOf(5461), '10.0.0.2:7001');
  t.equal(map.ownerOf(16383), '10.0.0.1:7000');
  t.same([...map.masters.keys()].sort(), ['10.0.0.1:7000', '10.0.0.2:7001', '10.0.0.3:7002']);
  t.ok(map.nodes.has('10.0.0.4:7003'), 'replicas are known addresses too');
  t.ok(map.isComplete);
  t.same(map.rangesOf('10.0.0.1:7000'), ['0-5460', '16383']);
  t.equal(map.slotCountOf('10.0.0.3:7002'), 16382 - 10923 + 1);
});

t.test('a slot no master serves makes the map incomplete', async (t) => {
  const map = SlotMap.fromClusterSlots(reply.slice(0, 2), { host: 'x', port: 1 });
  t.notOk(map.isComplete);
  t.equal(map.ownerOf(16000), '');
  t.throws(() => SlotMap.fromClusterSlots('nope', { host: 'x', port: 1 }));
});

t.test('hash tags: the part in braces decides the slot', async (t) => {
  t.equal(slotOf('{room42}:chat'), slotOf('{room42}:typing'));
  t.equal(slotOf('{room42}:chat'), slotOf('room42'));
  t.equal(slotOf('foo'), 12182, 'the CRC16 value Redis documents for "foo"');
});
