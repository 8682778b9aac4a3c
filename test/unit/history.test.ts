import t from 'tap';
import { MemoryHistory } from '../../src/history/memory.js';
import type { HistoryConfig } from '../../src/config/types.js';
import { PreparedMessage } from '../../src/hub/message.js';

/** `fp` defaults to one per seq; `ds` (wall deciseconds) to the monotonic time / 100. */
const msg = (channel: string, seq: number, at: number, fp = `fp${seq}`.padEnd(8, '_'), ds = Math.floor(at / 100)): PreparedMessage =>
  new PreparedMessage(channel, seq, `e:${seq}`, `p${seq}`, false, '', at, fp, ds, 4, seq);
const limits = { size: 3, maxAgeMs: 1000, store: 'memory' as const };

/** Appends by key, as the hub does through the coverage it keeps (nothing when uncovered). */
function appendByKey(h: MemoryHistory, key: string, message: PreparedMessage, l: HistoryConfig, nowMs: number): void {
  const coverage = h.coverage(key);
  if (coverage !== null) h.append(coverage, message, l, nowMs);
}

const newestOf = (h: MemoryHistory, key: string): PreparedMessage | null => h.coverage(key)?.newest ?? null;

t.test('bounded by count: replay after an evicted position says evicted', async (t) => {
  const h = new MemoryHistory();
  h.cover('c', 10, 0);
  for (let s = 11; s <= 15; s++) appendByKey(h, 'c', msg('c', s, 0), limits, 0);
  const r = h.replay('c', 12, limits, 0, 100);
  t.ok(r.ok);
  if (r.ok) t.same(r.messages.map((m) => m.seq), [13, 14, 15]);
  t.same(h.replay('c', 11, limits, 0, 100), { ok: false, reason: 'evicted' });
  const tail = h.replay('c', 15, limits, 0, 100);
  t.ok(tail.ok && tail.messages.length === 0, 'nothing after the newest');
});

t.test('bounded by age', async (t) => {
  const h = new MemoryHistory();
  h.cover('c', 0, 0);
  appendByKey(h, 'c', msg('c', 1, 0), limits, 0);
  appendByKey(h, 'c', msg('c', 2, 900), limits, 900);
  const r = h.replay('c', 0, limits, 1500, 100);
  t.same(r, { ok: false, reason: 'evicted' }, 'seq 1 aged out');
  const r2 = h.replay('c', 1, limits, 1500, 100);
  t.ok(r2.ok);
  if (r2.ok) t.same(r2.messages.map((m) => m.seq), [2]);
});

t.test('coverage: before it, uncovered or unknown channels are not_covered', async (t) => {
  const h = new MemoryHistory();
  t.same(h.replay('nope', 0, limits, 0, 10), { ok: false, reason: 'not_covered' });
  h.cover('c', 5, 0);
  t.same(h.replay('c', 4, limits, 0, 10), { ok: false, reason: 'not_covered' });
  t.ok(h.replay('c', 5, limits, 0, 10).ok);
  h.uncover('c');
  t.same(h.replay('c', 5, limits, 0, 10), { ok: false, reason: 'not_covered' });
  t.equal(h.channelCount, 0);
});

t.test('size 0: every resume after a message is evicted; more than max is evicted', async (t) => {
  const h = new MemoryHistory();
  h.cover('z', 0, 0);
  appendByKey(h, 'z', msg('z', 1, 0), { size: 0, maxAgeMs: 1000, store: 'memory' as const }, 0);
  t.same(h.replay('z', 0, { size: 0, maxAgeMs: 1000, store: 'memory' as const }, 0, 10), { ok: false, reason: 'evicted' });
  h.cover('m', 0, 0);
  const big = { size: 1000, maxAgeMs: 10_000, store: 'memory' as const };
  for (let s = 1; s <= 500; s++) appendByKey(h, 'm', msg('m', s, 0), big, 0);
  t.same(h.replay('m', 0, big, 0, 100), { ok: false, reason: 'evicted' }, 'more than max (a reload shrank the bound) is never a partial replay');
  const r = h.replay('m', 400, big, 0, 100);
  t.ok(r.ok);
  if (r.ok) t.same([r.messages.length, r.messages[0]!.seq, r.messages[99]!.seq], [100, 401, 500]);
});

/**
 * White-box: the ring's backing array, which only the lazy compaction keeps short (eviction
 * just advances `head`). Read through a cast on purpose: no production API exists for it.
 */
function backingSlots(h: MemoryHistory, key: string): number {
  const ring = (h as unknown as { rings: Map<string, { items: unknown[] }> }).rings.get(key);
  if (ring === undefined) throw new Error(`no ring for ${key}`);
  return ring.items.length;
}

t.test('a long-running ring stays compact and correct', async (t) => {
  const h = new MemoryHistory();
  h.cover('c', 0, 0);
  const l = { size: 10, maxAgeMs: 1e9, store: 'memory' as const };
  let most = 0;
  for (let s = 1; s <= 10_000; s++) {
    appendByKey(h, 'c', msg('c', s, s), l, s);
    most = Math.max(most, backingSlots(h, 'c'));
  }
  // Compaction runs once more than 64 evicted slots are also more than half the array.
  t.ok(most <= 2 * (64 + l.size) + 2, `the backing array never outgrows the ring by much (${most} slots for size ${l.size})`);
  const r = h.replay('c', 9990, l, 10_000, 100);
  t.ok(r.ok);
  if (r.ok) t.same(r.messages.map((m) => m.seq), [9991, 9992, 9993, 9994, 9995, 9996, 9997, 9998, 9999, 10_000]);
  t.same(h.replay('c', 9989, l, 10_000, 100), { ok: false, reason: 'evicted' });
});

t.test('sweep evicts aged entries of idle channels', async (t) => {
  const h = new MemoryHistory();
  h.maxAgeMs = 1000;
  h.cover('c', 0, 0);
  appendByKey(h, 'c', msg('c', 1, 0), limits, 0);
  appendByKey(h, 'c', msg('c', 2, 100), limits, 100);
  t.equal(h.sweep(1050), 1);
  t.same(h.replay('c', 0, limits, 1050, 10), { ok: false, reason: 'evicted' });
});

t.test('fingerprint index: one lookup across channels; twins are ambiguous; eviction updates it', async (t) => {
  const h = new MemoryHistory();
  const l = { size: 2, maxAgeMs: 1e9, store: 'memory' as const };
  h.cover('a', 0, 0);
  h.cover('b', 0, 0);
  appendByKey(h, 'a', msg('a', 1, 0, 'AAAAAAAA'), l, 0);
  appendByKey(h, 'b', msg('b', 2, 0, 'BBBBBBBB'), l, 0);
  const found = h.locate('BBBBBBBB');
  t.ok(found !== null && found !== 'ambiguous' && found.key === 'b' && found.message.seq === 2);
  t.equal(h.locate('CCCCCCCC'), null);
  appendByKey(h, 'a', msg('a', 3, 0, 'AAAAAAAA'), l, 0);
  t.equal(h.locate('AAAAAAAA'), 'ambiguous', 'the same window twice in history: never a guess');
  appendByKey(h, 'a', msg('a', 4, 0, 'DDDDDDDD'), l, 0); // evicts seq 1
  const twin = h.locate('AAAAAAAA');
  t.ok(twin !== null && twin !== 'ambiguous' && twin.message.seq === 3, 'the older twin left; the coverage says when (evictedDs)');
  t.equal(h.coverage('a')?.evictedUpTo, 1);
  h.uncover('a');
  t.equal(h.locate('AAAAAAAA'), null, 'an uncovered channel leaves the index');
});

t.test('fingerprint index: built on the first lookup, dropped after two idle sweeps, always the same answers', async (t) => {
  // A live index (a lookup after every step) and one rebuilt from the rings at the end must
  // agree on every fingerprint: twins, evictions, re-covered channels, collisions across channels.
  const live = new MemoryHistory();
  const lazy = new MemoryHistory();
  const l = { size: 4, maxAgeMs: 1e9, store: 'memory' as const };
  const fps = ['AAAAAAAA', 'BBBBBBBB', 'CCCCCCCC', 'DDDDDDDD', 'EEEEEEEE'];
  let state = 7;
  const next = (n: number): number => ((state = (state * 1103515245 + 12345) % 2147483648) % n);
  for (const h of [live, lazy]) for (const key of ['a', 'b', 'c']) h.cover(key, 0, 0);
  for (let seq = 1; seq <= 400; seq++) {
    if (seq === 200) {
      lazy.locate('AAAAAAAA'); // built mid-run, then dropped again below
      lazy.sweep(0);
      t.not(indexOf(lazy), null, 'one sweep after a lookup keeps it');
      lazy.sweep(0);
      t.equal(indexOf(lazy), null, 'a whole sweep interval without a lookup drops it');
    }
    const key = ['a', 'b', 'c'][next(3)]!;
    const fp = fps[next(fps.length)]!;
    if (next(40) === 0) {
      for (const h of [live, lazy]) h.cover(key, seq, 0); // coverage restarts: the ring is forgotten
      continue;
    }
    for (const h of [live, lazy]) appendByKey(h, key, msg(key, seq, 0, fp), l, 0);
    live.locate(fp);
  }
  const view = (h: MemoryHistory, fp: string): unknown => {
    const r = h.locate(fp);
    return r === null || r === 'ambiguous' ? r : [r.key, r.message.seq];
  };
  t.equal(indexOf(lazy), null, 'no lookup, no index: appends and evictions skip it');
  for (const fp of [...fps, 'ZZZZZZZZ']) t.same(view(lazy, fp), view(live, fp), fp);
});

/** The private index, to check when it exists (its answers are checked through locate). */
const indexOf = (h: MemoryHistory): unknown => (h as unknown as { index: unknown }).index;

t.test('replay by time: after the tolerance replays, inside it is ambiguous, before coverage is not_covered', async (t) => {
  const h = new MemoryHistory();
  const l = { size: 10, maxAgeMs: 1e9, store: 'memory' as const };
  h.cover('c', 0, 100);
  appendByKey(h, 'c', msg('c', 1, 0, undefined, 140), l, 0);
  appendByKey(h, 'c', msg('c', 2, 0, undefined, 200), l, 0);
  appendByKey(h, 'c', msg('c', 3, 0, undefined, 260), l, 0);
  const r = h.replayAfterTime('c', 175, 20, l, 0, 10);
  t.ok(r.ok);
  if (r.ok) t.same(r.messages.map((m) => m.seq), [2, 3], 'only what came more than the tolerance after');
  t.same(h.replayAfterTime('c', 190, 20, l, 0, 10), { ok: false, reason: 'ambiguous' });
  t.same(h.replayAfterTime('c', 110, 20, l, 0, 10), { ok: false, reason: 'not_covered' });
});

t.test('append: the coverage cover() returned, its newest, and nothing once it ended', async (t) => {
  const h = new MemoryHistory();
  const first = h.cover('c', 10, 0);
  h.append(first, msg('c', 11, 0), limits, 0);
  h.append(first, msg('c', 12, 0), limits, 0);
  t.equal(h.coverage('c')?.newest?.seq, 12, 'the coverage carries its newest message');
  t.equal(newestOf(h, 'c')?.seq, 12);
  for (let s = 13; s <= 20; s++) h.append(first, msg('c', s, 0), limits, 0);
  t.equal(first.newest?.seq, 20, 'still the newest after evictions');
  t.equal(first.evictedUpTo, 17);
  const second = h.cover('c', 30, 0);
  h.append(first, msg('c', 31, 0), limits, 0);
  t.equal(newestOf(h, 'c'), null, 'a coverage that a new cover() replaced takes nothing');
  h.append(second, msg('c', 32, 0), limits, 0);
  h.uncover('c');
  h.append(second, msg('c', 33, 0), limits, 0);
  t.equal(h.coverage('c'), null);
  h.cover('c', 40, 0);
  t.equal(newestOf(h, 'c'), null, 'and neither does one that uncover() ended');
  const aged = h.cover('d', 0, 0);
  h.append(aged, msg('d', 1, 0), limits, 0);
  t.equal(h.sweep(5000), 0, 'sweep keeps within the history-wide bound (maxAgeMs default)');
  h.maxAgeMs = 1000;
  t.equal(h.sweep(5000), 1, 'an aged-out last message leaves');
  t.equal(aged.newest, null, 'an emptied ring has no newest');
});
