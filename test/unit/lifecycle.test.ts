import t from 'tap';
import type { ClientClassConfig } from '../../src/config/types.js';
import { HeraldError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { makeRoute, type Route } from '../../src/rules/router.js';
import type { TransportContext } from '../../src/transport/context.js';
import { ConnectionLimiter } from '../../src/transport/connection-limit.js';
import { ConnectionLifecycle, type Session } from '../../src/transport/lifecycle/lifecycle.js';
import { isWellFormed, resumeFrom } from '../../src/transport/lifecycle/resume.js';
import { revalidateConnections, routeChange } from '../../src/transport/lifecycle/revalidate.js';
import { guarded, MAX_TIMER_MS, staggered, timerWithinRange } from '../../src/transport/lifecycle/timers.js';
import type { TransportStats } from '../../src/transport/stats.js';
import { INVALID_POSITION } from '../../src/hub/position.js';

const cls: ClientClassConfig = { name: 'desktop', userAgent: '', lifetimeMs: 100_000, pollHoldMs: 1000, heartbeatMs: 1000, idleMs: 1000 };
const route = (channel: string, redisChannel = channel): Route => makeRoute(channel, redisChannel, {} as Route['rule']);

function context(events: string[]): TransportContext {
  const stats: TransportStats = {
    connectionOpened: (tr, c) => events.push(`open ${tr} ${c}`),
    connectionClosed: (tr, r) => events.push(`close ${tr} ${r}`),
    delivered: () => {},
    slowConsumerDrop: () => {},
    clientError: () => {},
    pollHold: () => {},
  };
  return { stats, log: createLogger('silent'), limiter: new ConnectionLimiter(1) } as unknown as TransportContext;
}

t.test('deadline: lifetime within ±10%, or the token ttl when it comes first', async (t) => {
  let now = 5000;
  const life = new ConnectionLifecycle<Session>(context([]), 'sse', () => now);
  for (let i = 0; i < 200; i++) {
    const d = life.deadline(cls, Infinity);
    t.equal(d.reason, 'lifetime');
    if (d.atMs < now + 90_000 || d.atMs > now + 110_000) t.fail(`lifetime end ${d.atMs - now} ms outside ±10%`);
  }
  t.same(life.deadline(cls, 2500), { atMs: 7500, reason: 'token_expired' }, 'a ttl is read on the monotonic clock');
  t.equal(life.deadline(cls, 200_000).reason, 'lifetime', 'a ttl past the lifetime does not matter');
  now = 10;
  t.equal(life.tokenEnd(Infinity), Infinity);
});

t.test('opened/closed: counts, per-class, the IP slot; a second close is a no-op', async (t) => {
  const events: string[] = [];
  const ctx = context(events);
  const life = new ConnectionLifecycle<Session>(ctx, 'ws', () => 0);
  t.ok(ctx.limiter.admit('1.2.3.4'));
  const s: Session = { open: true, ip: '1.2.3.4', cls, sessionSlot: -1 };
  life.opened(s);
  t.equal(life.size, 1);
  t.same([...life.countsByClass()], [['desktop', 1]]);
  t.equal(life.closed(s, 'idle'), true);
  t.equal(life.closed(s, 'client'), false, 'already closed');
  t.same(events, ['open ws desktop', 'close ws idle']);
  t.equal(life.size, 0);
  t.same([...life.countsByClass()], []);
  t.ok(ctx.limiter.admit('1.2.3.4'), 'the slot was released once');
});

t.test('timers: the range guard, and guarded callbacks log instead of throwing', async (t) => {
  const lines: string[] = [];
  const log = createLogger('error', (l) => lines.push(l));
  t.equal(timerWithinRange(log, 'x', MAX_TIMER_MS + 1, () => t.fail('never')), null, 'past setTimeout range: left to the tick');
  // Lifecycle timers are unref'd (they never hold a stopping process): hold the loop here, or
  // a run of this file alone can end before the timer fires ("test unfinished").
  const keepAlive = setInterval(() => {}, 5);
  t.teardown(() => clearInterval(keepAlive));
  await new Promise<void>((resolve) => {
    const timer = timerWithinRange(log, 'expiry', -5, () => {
      resolve();
      throw new Error('boom');
    });
    t.not(timer, null);
  });
  await new Promise((r) => setImmediate(r));
  t.match(lines.join(''), /"msg":"expiry failed"/);
  t.doesNotThrow(() => guarded(log, 'tick', () => { throw new Error('x'); })());
});

t.test('staggered: every item once, in order, one per timer; one throw does not stop the rest', async (t) => {
  const log = createLogger('silent');
  const ended: number[] = [];
  // The drain timers are unref'd (they must never hold a stopping process): hold the loop here.
  const keepAlive = setInterval(() => {}, 5);
  const done = staggered(log, [1, 2, 3, 4], 40, (i) => {
    ended.push(i);
    if (i === 2) throw new Error('end failed');
  });
  t.same(ended, [], 'nothing ends synchronously');
  await done;
  clearInterval(keepAlive);
  t.same(ended, [1, 2, 3, 4]);
  await t.resolves(staggered(log, [], 1000, () => {}), 'none: resolves at once');
});

t.test('revalidate: one unit, subscriptions; the first change found is the reason', async (t) => {
  const router = {
    route: (channel: string) => (channel === 'gone' ? new HeraldError('channel_denied') : route(channel, channel === 'moved' ? 'elsewhere' : channel)),
  };
  t.equal(routeChange(router, route('kept')), null);
  t.equal(routeChange(router, route('gone'))?.code, 'channel_denied');
  t.equal(routeChange(router, route('moved'))?.code, 'channel_denied', 'a remapped channel is ended too');
  const conns = [
    { id: 'a', routes: [route('kept')] },
    { id: 'b', routes: [route('kept'), route('gone'), route('moved')] },
    { id: 'c', routes: [route('moved')] },
  ];
  const ended: string[] = [];
  t.equal(revalidateConnections(conns, router, (c, err, r) => ended.push(`${c.id}:${r.channel}:${err.code}`)), 4, 'b holds 3 subscriptions, c one');
  t.same(ended, ['b:gone:channel_denied', 'c:moved:channel_denied']);
});

t.test('resume positions go through one door', async (t) => {
  t.equal(resumeFrom(''), null);
  t.same(resumeFrom('Qm3x_a9Z.hx2k1p0.k3p9.2bq'), { kind: 'message', fp: 'Qm3x_a9Z', ds: parseInt('hx2k1p0', 36), tag: 'k3p9', seq: parseInt('2bq', 36) });
  t.same(resumeFrom('Qm3x_a9Z.hx2k1p0.k3p9'), { kind: 'message', fp: 'Qm3x_a9Z', ds: parseInt('hx2k1p0', 36), tag: 'k3p9', seq: null });
  t.equal(resumeFrom('not a position'), INVALID_POSITION, 'malformed: the hub answers reset invalid');
  t.ok(isWellFormed('Qm3x_a9Z.hx2k1p0.k3p9'));
  t.notOk(isWellFormed('abc'));
  t.notOk(isWellFormed(''));
});
