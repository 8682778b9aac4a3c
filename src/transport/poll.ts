import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { encodePollBody } from '../encode/poll.js';
import { readRequest, type RequestFacts } from '../http/request.js';
import type { RequestHead } from '../http/request-screen.js';
import { claimResponse, releaseResponse, writeJson } from '../http/server.js';
import type { PreparedMessage } from '../hub/message.js';
import type { Route } from '../rules/router.js';
import type { ChannelRouter } from './channels.js';
import type { Transport, TransportContext } from './context.js';
import { FlushQueue } from './flush.js';
import { HoldWheel } from './hold-wheel.js';
import { admitRequest } from './lifecycle/admission.js';
import type { AuthResult } from './lifecycle/authorize.js';
import { ConnectionLifecycle } from './lifecycle/lifecycle.js';
import { isPosition, isWellFormed, resumeFrom } from './lifecycle/resume.js';
import { revalidateConnections } from './lifecycle/revalidate.js';
import { PollWaiter, type PollOwner } from './poll-waiter.js';
import type { CloseReason, PollOutcome } from './stats.js';

/** Waiters kept for reuse at most (a fan-out answering 15,000 polls at once fills this much). */
const POOL_MAX = 16_384;

/**
 * How a hold's end is counted as a connection close. Comparisons, not a lookup table: a
 * record indexed by the outcome is one keyed load that sees several names, which V8 makes
 * megamorphic, and that load alone took 1.4% of the broadcast poll profile (57 samples of
 * ~4,000; 3 after this change, bench/issue-15.md, twelfth pass).
 */
function closeReasonOf(outcome: PollOutcome): CloseReason {
  return outcome === 'drain' ? 'drain' : outcome === 'policy' ? 'policy' : 'client';
}

/**
 * GET /poll?channel=…[&channel=…][&cursor=…]: answers with the messages after the cursor,
 * or holds until one arrives or the client class's pollHoldMs passes. Between polls the
 * hub's interest linger keeps the broker subscription and history coverage, so the next
 * poll's cursor replays whatever arrived in the gap. The lifecycle is ConnectionLifecycle's;
 * this adapter holds (HoldWheel) and writes one JSON answer.
 */
export class PollTransport implements PollOwner, Transport {
  readonly name = 'poll' as const;
  private readonly life: ConnectionLifecycle<PollWaiter>;
  private readonly holds: HoldWheel<PollWaiter>;
  readonly answers: FlushQueue;
  /** The last shared answer (sharedBody): its messages, cursor, text, and bytes once reused. */
  private lastMessages: readonly PreparedMessage[] = [];
  private lastCursor = '';
  private lastText = '';
  private lastBytes: Buffer | null = null;
  /** Messages answered in this flush pass, counted once at its end (as streams do), not per poller. */
  private deliveredInPass = 0;
  /** Ended waiters, for the next requests (poll-waiter.ts: why, and why it is safe). */
  private readonly pool: PollWaiter[] = [];

  constructor(
    private readonly ctx: TransportContext,
    readonly now: () => number,
  ) {
    this.life = new ConnectionLifecycle(ctx, 'poll', now);
    this.answers = new FlushQueue(ctx.log, () => this.reportDelivered());
    this.holds = new HoldWheel(now, (waiter) => this.answer(waiter, 'timeout'), ctx.log);
  }

  /** Held polls. */
  get size(): number {
    return this.life.size;
  }

  get batchSize(): number {
    return this.ctx.limits.pollBatchSize;
  }

  countsByClass(): ReadonlyMap<string, number> {
    return this.life.countsByClass();
  }

  readonly handle = (res: HttpResponse, req: HttpRequest, head?: RequestHead): void | Promise<void> => {
    const facts = readRequest(res, req, this.ctx.trustedIpHeader, head, this.ctx.limiter.counting);
    if (this.life.draining) {
      // Not an error status: an empty answer that keeps the client's position, on a
      // connection that closes so the next poll lands on another process.
      const given = facts.query.get('cursor') ?? '';
      const cursor = isWellFormed(given) ? given : this.ctx.hub.head();
      return writeJson(res, 200, encodePollBody([], cursor, []), this.ctx.cors.headers(facts.origin), true);
    }
    return admitRequest(this.ctx, res, facts, this.admitted);
  };

  private readonly admitted = this.accept.bind(this);

  private accept(res: HttpResponse, facts: RequestFacts, routes: readonly Route[], auth: AuthResult): void {
    const cls = this.life.classify(facts);
    const cursorText = facts.query.get('cursor') ?? '';
    const since = resumeFrom(cursorText);
    // The position to fall back on if the hold ends before every channel is live: the
    // client's own (valid) cursor, else the head now — never a later head, which could skip
    // messages delivered on the live channels meanwhile.
    const fallback = isPosition(since) ? cursorText : this.ctx.hub.head(routes);
    const waiter = (this.pool.pop() ?? new PollWaiter(this)).start(res, facts.ip, facts.origin, routes, cls, fallback);
    claimResponse(res);
    this.life.opened(waiter);
    waiter.accepting = true;
    this.life.subscribeAll(waiter, routes, since, waiter.ready);
    waiter.accepting = false;
    if (waiter.due) {
      // Answerable now (a replay or a reset on every channel, found synchronously): answered
      // in the handler, with no abort handler, hold or flush pass to set up and take
      // down (a catch-up poll, and every churn cycle: bench/issue-15.md).
      this.answer(waiter, waiter.outcome, true);
      return;
    }
    res.onAborted(waiter.abort);
    // A poll never outlives its token: it answers (empty) at expiry and the next poll is refused.
    this.holds.add(waiter, Math.min(cls.pollHoldMs, Math.max(0, auth.ttlMs)));
  }

  /**
   * Writes the answer and releases the waiter. From timers and immediates it corks; `inHandler`
   * (accept's answer on arrival) writes straight away, the handler's response being corked
   * already (a cork() there is one more native call per such poll: ~0.5 µs in churn poll).
   */
  answer(waiter: PollWaiter, outcome: PollOutcome, inHandler = false): void {
    if (!waiter.open) return;
    const body = this.body(waiter);
    this.finish(waiter, outcome);
    const cors = this.ctx.cors.headers(waiter.origin);
    if (inHandler) {
      writeJson(waiter.res!, 200, body, cors);
    } else {
      // cork() runs its callback synchronously: one shared function and slots, no closure per answer.
      answerRes = waiter.res;
      answerBody = body;
      answerCors = cors;
      waiter.res!.cork(writeAnswer);
    }
    this.recycle(waiter);
    // `message` and `reset` answers come from the flush pass (PollWaiter.flush), which reports
    // its sum at the end; the others, and an answer in the handler, are counted at once.
    if (inHandler || (outcome !== 'message' && outcome !== 'reset')) this.reportDelivered();
  }

  private reportDelivered(): void {
    if (this.deliveredInPass === 0) return;
    this.ctx.stats.delivered('poll', this.deliveredInPass);
    this.deliveredInPass = 0;
  }

  private body(waiter: PollWaiter): string | Buffer {
    if (!waiter.allLive) {
      // A channel is not covered yet: nothing can be claimed past the client's own cursor.
      return encodePollBody([], waiter.cursor, []);
    }
    const messages = waiter.takeMessages();
    const max = this.batchSize;
    const sent = messages.length > max ? messages.slice(0, max) : messages;
    const cursor = messages.length > max ? sent[sent.length - 1]!.id : this.ctx.hub.head(waiter.routes);
    this.deliveredInPass += sent.length;
    if (waiter.resets === null && sent.length > 0) return this.sharedBody(sent, cursor);
    return encodePollBody(sent.map((m) => m.poll), cursor, waiter.resets ?? []);
  }

  /**
   * Pollers answered one after another mostly get the same bytes: one message and the head
   * (every poller a fan-out answers in one pass: 1,000 per message in the broadcast rows), or
   * the same run of missed messages (pollers of a busy channel that came back in the same
   * turn). The last answer is kept and reused when its messages and cursor are the same, so
   * it is encoded once for all of them. The first use writes the string (uWS copies it out as
   * UTF-8); only a second use makes the Buffer the rest share: where each channel has one
   * poller (one-per-channel), a Buffer per answer was a third of the answer's garbage.
   */
  private sharedBody(sent: readonly PreparedMessage[], cursor: string): string | Buffer {
    if (this.lastCursor === cursor && sameMessages(this.lastMessages, sent)) {
      return (this.lastBytes ??= Buffer.from(this.lastText));
    }
    this.lastMessages = sent;
    this.lastCursor = cursor;
    this.lastText = encodePollBody(sent.map((m) => m.poll), cursor, []);
    this.lastBytes = null;
    return this.lastText;
  }

  /** False when the hold had ended already. */
  private finish(waiter: PollWaiter, outcome: PollOutcome): boolean {
    if (!this.life.closed(waiter, closeReasonOf(outcome))) return false;
    releaseResponse(waiter.res!);
    this.holds.remove(waiter);
    this.life.unsubscribeAll(waiter, waiter.routes);
    this.ctx.stats.pollHold(outcome);
    return true;
  }

  /** Once per ended hold (finish() returned true), after its last use of the response. */
  private recycle(waiter: PollWaiter): void {
    waiter.clear();
    if (this.pool.length < POOL_MAX) this.pool.push(waiter);
  }

  /** Answers every held poll now, with its cursor (no spreading: each answer is one small write); the clients poll again elsewhere. */
  drain(): Promise<void> {
    this.life.draining = true;
    for (const waiter of [...this.life.sessions]) this.answer(waiter, 'drain');
    return Promise.resolve();
  }

  /**
   * After a reload: held polls on channels the new rules deny are answered now (outcome
   * `policy`); the next poll is refused with the reason. Returns the subscriptions ended.
   */
  revalidate(router: ChannelRouter): number {
    return revalidateConnections(this.life.sessions, router, (waiter) => this.answer(waiter, 'policy'));
  }

  close(): void {
    this.holds.stop();
  }

  aborted(waiter: PollWaiter): void {
    if (this.finish(waiter, 'aborted')) this.recycle(waiter);
  }
}

let answerRes: HttpResponse | null = null;
let answerBody: string | Buffer = '';
let answerCors: readonly (readonly [string, string])[] = [];

function sameMessages(a: readonly PreparedMessage[], b: readonly PreparedMessage[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function writeAnswer(): void {
  const res = answerRes!;
  answerRes = null;
  writeJson(res, 200, answerBody, answerCors);
}
