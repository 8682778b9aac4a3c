/**
 * The Broker contract (src/hub/ports.ts), run once per implementation: memory and redis
 * today, cluster later. Each case gets a fresh started broker and a unique channel prefix.
 */
import type tap from 'tap';
import { isHeraldError } from '../../src/errors.js';
import type { Broker, BrokerHandler, BrokerStatus } from '../../src/hub/ports.js';
import { waitFor } from '../helpers/wait.js';

type Tap = typeof tap;

/** A BrokerHandler that records everything; `desired` plays the interest tracker. */
export class RecordingHandler implements BrokerHandler {
  readonly desired = new Set<string>();
  readonly messages: Array<{ channel: string; payload: Buffer }> = [];
  readonly live: string[][] = [];
  readonly statuses: BrokerStatus[] = [];
  /** Batches reported by onCoverageLost (a cluster shard lost or a slot moved). */
  readonly lost: string[][] = [];
  /** Set to make onMessage throw (the broker must keep delivering). */
  throwOnMessage = false;

  onMessage(redisChannel: string, payload: Buffer): void {
    // A copy: the payload may be a view of the link's read buffer, lent for this call only (ports.ts).
    this.messages.push({ channel: redisChannel, payload: Buffer.from(payload) });
    if (this.throwOnMessage) throw new Error('handler failure (test)');
  }
  onLive(redisChannels: readonly string[]): void {
    this.live.push([...redisChannels]);
  }
  onStatus(status: BrokerStatus): void {
    this.statuses.push(status);
  }
  onCoverageLost(redisChannels: readonly string[]): void {
    this.lost.push([...redisChannels]);
  }
  desiredChannels(): Iterable<string> {
    return this.desired;
  }
  isLive(channel: string): boolean {
    return this.live.some((batch) => batch.includes(channel));
  }
  payloadsOf(channel: string): Buffer[] {
    return this.messages.filter((m) => m.channel === channel).map((m) => m.payload);
  }
  /** Subscribes through the broker as the hub would and waits for onLive. */
  async subscribe(broker: Broker, channels: readonly string[], timeoutMs = 5000): Promise<void> {
    for (const c of channels) this.desired.add(c);
    broker.subscribe(channels);
    await waitFor(() => channels.every((c) => this.isLive(c)), { timeoutMs, what: `onLive for ${channels.length} channel(s)` });
  }
}

let prefixSeq = 0;
/** Unique per test so files can share one Redis (STYLE G). */
export function uniquePrefix(): string {
  return `t${process.pid}-${++prefixSeq}-${Date.now().toString(36)}:`;
}

export interface BrokerUnderTest {
  readonly broker: Broker;
  readonly handler: RecordingHandler;
  readonly prefix: string;
}

/** makeBroker returns a fresh, unstarted broker; the suite starts and closes it. */
export function brokerContract(t: Tap, name: string, makeBroker: () => Broker | Promise<Broker>): void {
  const setup = async (tt: { teardown(fn: () => unknown): void }, handler = new RecordingHandler()): Promise<BrokerUnderTest> => {
    const broker = await makeBroker();
    tt.teardown(() => broker.close());
    await broker.start(handler);
    await waitFor(() => broker.status === 'ready', { timeoutMs: 5000, what: `${name} status ready` });
    return { broker, handler, prefix: uniquePrefix() };
  };

  t.test(`${name}: subscribe, onLive, publish, onMessage with exact bytes`, async (t) => {
    const { broker, handler, prefix } = await setup(t);
    const channel = `${prefix}bytes`;
    await handler.subscribe(broker, [channel]);
    const binary = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) binary[i] = i;
    const sent: Array<string | Buffer> = ['plain ascii', 'héllo ✓ 日本語 🚀', binary, '', Buffer.from([0xff, 0xfe, 0x00, 0x0a])];
    for (const payload of sent) await broker.publish(channel, payload);
    await waitFor(() => handler.payloadsOf(channel).length === sent.length, { timeoutMs: 5000, what: 'all payloads' });
    const got = handler.payloadsOf(channel);
    sent.forEach((payload, i) => {
      const expected = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
      t.ok(Buffer.isBuffer(got[i]), `payload ${i} is a Buffer`);
      t.ok(got[i]?.equals(expected), `payload ${i} is byte-exact`);
    });
  });

  t.test(`${name}: preserves the order of 1,000 messages`, async (t) => {
    const { broker, handler, prefix } = await setup(t);
    const channel = `${prefix}order`;
    await handler.subscribe(broker, [channel]);
    const publishes: Array<Promise<number>> = [];
    for (let i = 0; i < 1000; i++) publishes.push(broker.publish(channel, `m${i}`));
    await Promise.all(publishes);
    await waitFor(() => handler.payloadsOf(channel).length === 1000, { timeoutMs: 10_000, what: '1,000 messages' });
    const got = handler.payloadsOf(channel).map((b) => b.toString());
    t.same(got, Array.from({ length: 1000 }, (_, i) => `m${i}`));
  });

  t.test(`${name}: payloads larger than a read, among small ones, arrive whole and in order`, async (t) => {
    const { broker, handler, prefix } = await setup(t);
    const channel = `${prefix}large`;
    await handler.subscribe(broker, [channel]);
    // Past the 64 KiB a direct-read link reads at once (broker/redis-direct-read.ts), with small
    // payloads in between, so reads end mid-payload and the read buffer is reused under it.
    const sent = Array.from({ length: 60 }, (_, i) =>
      i % 10 === 3 ? Buffer.from(Array.from({ length: 150_000 + i }, (_, k) => (k * 7 + i) & 0xff)) : Buffer.from(`small ${i}`),
    );
    await Promise.all(sent.map((payload) => broker.publish(channel, payload)));
    await waitFor(() => handler.payloadsOf(channel).length === sent.length, { timeoutMs: 10_000, what: `${sent.length} payloads` });
    const got = handler.payloadsOf(channel);
    t.equal(got.filter((payload, i) => !payload.equals(sent[i]!)).length, 0, 'every payload byte-exact, in publish order');
  });

  t.test(`${name}: unsubscribe stops delivery; publish reports receivers`, async (t) => {
    const { broker, handler, prefix } = await setup(t);
    const [gone, kept] = [`${prefix}gone`, `${prefix}kept`];
    await handler.subscribe(broker, [gone, kept]);
    t.equal(await broker.publish(gone, 'before'), 1, 'one receiver while subscribed');
    await waitFor(() => handler.payloadsOf(gone).length === 1, { timeoutMs: 5000, what: 'message before unsubscribe' });
    handler.desired.delete(gone);
    broker.unsubscribe([gone]);
    // The unsubscribe is a fire-and-forget edge: wait until publish reports no receiver.
    await waitFor(async () => (await broker.publish(gone, 'probe-after')) === 0, { timeoutMs: 5000, what: 'receiver count 0' });
    t.equal(await broker.publish(gone, 'after'), 0, 'no receiver after unsubscribe');
    t.equal(await broker.publish(kept, 'sentinel'), 1);
    await waitFor(() => handler.payloadsOf(kept).length === 1, { timeoutMs: 5000, what: 'sentinel' });
    t.same(handler.payloadsOf(gone).map(String), ['before'], 'nothing delivered after unsubscribe');
    t.equal(await broker.publish(`${prefix}nobody`, 'x'), 0, 'unknown channel has no receivers');
  });

  t.test(`${name}: start subscribes the handler's desired set`, async (t) => {
    const handler = new RecordingHandler();
    const channel = `${uniquePrefix()}preset`;
    handler.desired.add(channel);
    const { broker } = await setup(t, handler);
    await waitFor(() => handler.isLive(channel), { timeoutMs: 5000, what: 'onLive of the preset channel' });
    t.equal(await broker.publish(channel, 'x'), 1);
    await waitFor(() => handler.payloadsOf(channel).length === 1, { timeoutMs: 5000, what: 'message' });
  });

  t.test(`${name}: a throwing handler does not stop delivery`, async (t) => {
    const { broker, handler, prefix } = await setup(t);
    const channel = `${prefix}throw`;
    await handler.subscribe(broker, [channel]);
    handler.throwOnMessage = true;
    await broker.publish(channel, 'a');
    await broker.publish(channel, 'b');
    await waitFor(() => handler.payloadsOf(channel).length === 2, { timeoutMs: 5000, what: 'both messages' });
    t.same(handler.payloadsOf(channel).map(String), ['a', 'b']);
  });

  t.test(`${name}: close sets status closed; publish then fails fast`, async (t) => {
    const { broker, handler, prefix } = await setup(t);
    await broker.close();
    t.equal(broker.status, 'closed');
    t.equal(handler.statuses.at(-1), 'closed');
    await t.rejects(broker.publish(`${prefix}x`, 'late'), { code: 'broker_unavailable' });
    const err = await broker.publish(`${prefix}x`, 'late').catch((e: unknown) => e);
    t.ok(isHeraldError(err), 'a HeraldError, never a driver error');
    await broker.close();
  });
}
