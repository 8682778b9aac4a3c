import t from 'tap';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientClassConfig } from '../../src/config/types.js';
import { PreparedMessage } from '../../src/hub/message.js';
import { makeRoute, type Route } from '../../src/rules/router.js';
import type { Flushable } from '../../src/transport/flush.js';
import { PollWaiter, type PollOwner } from '../../src/transport/poll-waiter.js';
import { PRE_LIVE_OVERHEAD_BYTES, StreamConnection, type StreamOwner } from '../../src/transport/stream-connection.js';
import { SSE_FORMAT } from '../../src/transport/stream-format.js';

// Issue 9: messages queued for a stream or a poll while one of its channels was not live
// yet (StreamConnection.initial, PollWaiter.messages) had no count or byte bound.

const cls: ClientClassConfig = { name: 'default', userAgent: '', lifetimeMs: 60_000, pollHoldMs: 30_000, heartbeatMs: 15_000, idleMs: 60_000 };
const route = (channel: string): Route =>
  makeRoute(channel, channel, { pattern: channel, redis: channel, payload: 'text', history: { size: 10, maxAgeMs: 60_000, store: 'memory' }, lingerMs: 0, batchDelayMs: 0, access: { kind: 'public' }, publishScopes: [] } as unknown as Route['rule']);
const message = (seq: number, payload = 'x'): PreparedMessage => new PreparedMessage('a', seq, `ep:${seq}`, payload, false, '', 0, '', 0, 0, 0);
/** Never touched by the paths under test: a write would throw. */
const noRes = {} as HttpResponse;

t.test('a stream waiting for a channel drops itself, at the next flush, past its unsent bound', async (t) => {
  const flushes: Flushable[] = [];
  const dropped: StreamConnection[] = [];
  const owner: StreamOwner = {
    format: SSE_FORMAT,
    schedule: (conn) => flushes.push(conn),
    deliveredInPass: 0,
    turnNow: () => 0,
    begin: () => t.fail('never begins: channel b is not live'),
    dropSlow: (conn) => dropped.push(conn),
  };
  const maxUnsent = 10_000;
  const conn = new StreamConnection(owner, noRes, '127.0.0.1', '', [route('a'), route('b')], cls, { atMs: 60_000, reason: 'lifetime' }, maxUnsent, 0);
  conn.onReady(route('a'), { replay: [], reset: null, position: 'ep:0' });
  const payload = 'p'.repeat(100);
  const fits = Math.floor(maxUnsent / (payload.length + PRE_LIVE_OVERHEAD_BYTES));
  for (let seq = 1; seq <= fits; seq++) conn.deliver(message(seq, payload));
  t.equal(conn.initial?.length, fits, 'queued up to the bound');
  t.equal(flushes.length, 0, 'nothing to flush yet');
  for (let seq = fits + 1; seq <= fits + 10_000; seq++) conn.deliver(message(seq, payload));
  t.ok((conn.initial?.length ?? 0) <= fits, `the queue stays bounded (${conn.initial?.length})`);
  t.equal(dropped.length, 0, 'not dropped inside the fan-out');
  t.equal(flushes.length, 1, 'registered once for the flush');
  flushes[0]!.flush();
  t.same(dropped, [conn], 'dropped as a slow consumer at the flush');
});

t.test('a held poll keeps only what one answer can carry, and the answer is unchanged', async (t) => {
  const answers: Flushable[] = [];
  const owner: PollOwner = { answers: { add: (item) => answers.push(item) }, batchSize: 5, answer: () => {}, aborted: () => {} };
  const waiter = new PollWaiter(owner).start(noRes, '127.0.0.1', '', [route('a'), route('b')], cls, 'ep:0');
  waiter.onReady(route('a'), { replay: [], reset: null, position: 'ep:0' });
  // Out of seq order on purpose: two channels interleave, replays arrive late.
  const seqs = Array.from({ length: 10_000 }, (_, i) => 10_000 - i);
  let most = 0;
  for (const seq of seqs) {
    waiter.deliver(message(seq));
    most = Math.max(most, waiter.messages?.length ?? 0);
  }
  t.ok(most <= 2 * 5, `at most 2 × batchSize queued at any time (saw ${most})`);
  waiter.onReady(route('b'), { replay: [message(0.5)], reset: null, position: 'ep:10000' });
  const kept = waiter.takeMessages().map((m) => m.seq);
  t.same(kept.slice(0, 5), [0.5, 1, 2, 3, 4], 'the batchSize lowest seqs, in order');
  t.ok(kept.length > 5, 'and more than batchSize, so the answer cursor stops at its last message, not the head');
});

t.test('a pooled waiter: a flush queued for an ended request answers nothing; its callbacks are made once', async (t) => {
  const answers: Flushable[] = [];
  const answered: string[] = [];
  const owner: PollOwner = { answers: { add: (item) => answers.push(item) }, batchSize: 5, answer: (w, outcome) => answered.push(`${w.cursor}:${outcome}`), aborted: () => {} };
  const waiter = new PollWaiter(owner).start(noRes, '', '', [route('a')], cls, 'first');
  const { abort, ready } = waiter;
  ready({ replay: [], reset: null, position: 'ep:0' }, route('a'));
  waiter.deliver(message(1));
  t.equal(answers.length, 1, 'queued for the end-of-turn pass');
  // The request ends before the pass (its client went away) and the waiter takes the next one.
  waiter.open = false;
  waiter.clear();
  waiter.start(noRes, '', '', [route('a'), route('b')], cls, 'second');
  answers[0]!.flush();
  t.same(answered, [], 'the stale entry answers nothing');
  t.equal(waiter.messages, null, 'and the new request starts with no messages');
  t.equal(waiter.abort, abort, 'one onAborted handler for every request');
  t.equal(waiter.ready, ready, 'one ready callback for every request');
  waiter.ready({ replay: [message(2)], reset: null, position: 'ep:2' }, route('a'));
  waiter.ready({ replay: [], reset: null, position: 'ep:2' }, route('b'));
  t.equal(answers.length, 2, 'queued again once every channel is live');
  answers[1]!.flush();
  answers[1]!.flush();
  t.same(answered, [':message'], 'answered once (the fallback cursor is dropped once live)');
});
