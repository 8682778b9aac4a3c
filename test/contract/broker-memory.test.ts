import t from 'tap';
import { MemoryBroker } from '../../src/broker/memory.js';
import { createLogger } from '../../src/log.js';
import { brokerContract, RecordingHandler } from './broker.contract.js';

const silent = createLogger('silent');
brokerContract(t, 'memory', () => new MemoryBroker(silent));

t.test('memory: onLive comes on a later turn, before any message published after subscribe', async (t) => {
  const broker = new MemoryBroker(silent);
  t.teardown(() => broker.close());
  const handler = new RecordingHandler();
  const order: string[] = [];
  handler.onLive = (list) => order.push(`live:${list.join(',')}`);
  handler.onMessage = (channel, payload) => order.push(`msg:${channel}:${payload.toString()}`);
  t.equal(broker.status, 'connecting');
  await broker.start(handler);
  t.equal(broker.status, 'ready');
  broker.subscribe(['a']);
  t.equal(await broker.publish('a', '1'), 1);
  t.same(order, [], 'nothing synchronous');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(order, ['live:a', 'msg:a:1']);
});

t.test('memory: publish before start fails fast', async (t) => {
  const broker = new MemoryBroker(silent);
  await t.rejects(broker.publish('a', 'x'), { code: 'broker_unavailable' });
});
