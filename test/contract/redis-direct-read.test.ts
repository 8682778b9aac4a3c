/**
 * DirectReadConnector (src/broker/redis-direct-read.ts) on its own, against a real Redis: a
 * link nobody has taken the reads of is an ordinary ioredis connection (each read copied and
 * emitted as 'data'), and one whose reads are taken gets them all, in order, from one reused
 * buffer.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { DirectReadConnector, takeReads } from '../../src/broker/redis-direct-read.js';
import { redisWithPublisher } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { uniquePrefix } from './broker.contract.js';

t.test('without a reader: commands and replies larger than the read buffer work as on a stream', async (t) => {
  const { redisUrl } = await redisWithPublisher(t);
  const conn = new Redis(redisUrl, { Connector: DirectReadConnector });
  t.teardown(() => conn.quit());
  t.equal(await conn.ping(), 'PONG');
  const key = `${uniquePrefix()}big`;
  // 300 KB: several reads of the 64 KiB buffer, which ioredis' parser joins (it keeps views of
  // what it is given: the copies are what make this value come back intact).
  const value = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) & 0xff));
  await conn.set(key, value);
  const values = await Promise.all([conn.getBuffer(key), conn.getBuffer(key), conn.get(`${key}:absent`)]);
  t.ok(values[0]?.equals(value), 'a 300 KB reply byte for byte');
  t.ok(values[1]?.equals(value), 'and again, pipelined behind it');
  t.equal(values[2], null);
  await conn.del(key);
});

t.test('takeReads: only a socket the connector made; its reads are views of one buffer, whole in order', async (t) => {
  const { redisUrl, pub } = await redisWithPublisher(t);
  const plain = new Redis(redisUrl);
  t.teardown(() => plain.quit());
  await plain.ping();
  t.notOk(takeReads(plain.stream, () => t.fail('not a direct socket')), 'an ordinary ioredis socket is left alone');

  const conn = new Redis(redisUrl, { Connector: DirectReadConnector, lazyConnect: true });
  t.teardown(() => conn.disconnect());
  await conn.connect();
  const channel = `${uniquePrefix()}raw`;
  await conn.subscribe(channel);
  const received: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  t.ok(
    takeReads(conn.stream, (chunk) => {
      buffers.add(chunk.buffer);
      received.push(Buffer.from(chunk));
    }),
    'a direct socket hands its reads over',
  );
  const payloads = Array.from({ length: 200 }, (_, i) => (i % 50 === 7 ? 'x'.repeat(100_000 + i) : `m${i}`));
  for (const p of payloads) await pub.publish(channel, p);
  const expected = Buffer.concat(payloads.map((p) => Buffer.from(`*3\r\n$7\r\nmessage\r\n$${channel.length}\r\n${channel}\r\n$${p.length}\r\n${p}\r\n`)));
  await waitFor(() => received.reduce((n, b) => n + b.length, 0) >= expected.length, { timeoutMs: 10_000, what: 'every pushed byte' });
  t.ok(Buffer.concat(received).equals(expected), 'the pushes byte for byte, in order, across reads');
  t.equal(buffers.size, 1, `${received.length} reads, all in the socket's one buffer`);
});
