import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { ClientClassConfig } from '../config/types.js';
import { encodePollBody, type PollReset } from '../encode/poll.js';
import { HeraldError } from '../errors.js';
import { readRequest, type RequestFacts } from '../http/request.js';
import { claimResponse, releaseResponse, writeJson } from '../http/server.js';
import type { Ready } from '../hub/hub.js';
import type { PreparedMessage } from '../hub/message.js';
import { INVALID_POSITION, parsePosition } from '../hub/position.js';
import type { ResetReason, Subscriber } from '../hub/subscriber.js';
import type { Route } from '../rules/router.js';
import type { AuthResult } from './authorize.js';
import type { ChannelRouter } from './channels.js';
import { ClassCounts } from './class-counts.js';
import type { TransportContext } from './context.js';
import type { PollOutcome } from './stats.js';
import { admitRequest } from './admission.js';
import { FlushQueue, type Flushable } from './flush.js';
import { HoldWheel } from './hold-wheel.js';

/**
 * One GET /poll: subscribed to its channels only while held.
 *
 *   cursor (a position) ──► hub.subscribe(since = cursor) per channel
 *        ready: replay after cursor, or a reset ──► answer at once
 *        nothing yet ──► hold: first delivery answers in the next setImmediate
 *                        (same-turn messages go together), or pollHoldMs ──► empty answer
 *   answer cursor = head while every channel is live (all up to it was replayed or delivered),
 *                 = last id sent when the batch was cut at pollBatchSize.
 */
class PollWaiter implements Subscriber, Flushable {
  readonly transport = 'poll' as const;
  open = true;
  private waiting: number;
  /** Allocated on the first message or reset: most held polls wait with neither. */
  messages: PreparedMessage[] | null = null;
  resets: PollReset[] | null = null;
  private scheduled = false;

  constructor(
    readonly owner: PollTransport,
    readonly res: HttpResponse,
    readonly ip: string,
    readonly origin: string,
    readonly routes: readonly Route[],
    readonly cls: ClientClassConfig,
    /** Where the client goes on from if not every channel went live (see accept()). */
    readonly cursor: string,
  ) {
    this.waiting = routes.length;
  }

  get allLive(): boolean {
    return this.waiting === 0;
  }

  deliver(message: PreparedMessage): void {
    if (!this.open) return;
    (this.messages ??= []).push(message);
    this.schedule();
  }

  reset(channel: string, reason: ResetReason): void {
    if (!this.open) return;
    (this.resets ??= []).push({ channel, reason });
    this.schedule();
  }

  onReady(route: Route, ready: Ready): void {
    if (!this.open) return;
    if (ready.replay.length > 0) (this.messages ??= []).push(...ready.replay);
    if (ready.reset !== null) (this.resets ??= []).push({ channel: route.channel, reason: ready.reset });
    if (--this.waiting === 0 && (this.messages !== null || this.resets !== null)) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || !this.allLive) return;
    this.scheduled = true;
    // One shared end-of-turn pass answers every poll that got something this turn.
    this.owner.answers.add(this);
  }

  flush(): void {
    this.owner.answer(this, this.resets !== null ? 'reset' : 'message');
  }
}

/**
 * GET /poll?channel=…[&channel=…][&cursor=…]: answers with the messages after the cursor,
 * or holds until one arrives or the client class's pollHoldMs passes. Between polls the
 * hub's interest linger keeps the broker subscription and history coverage, so the next
 * poll's cursor replays whatever arrived in the gap.
 */
export class PollTransport {
  private readonly waiters = new Set<PollWaiter>();
  private readonly holds: HoldWheel<PollWaiter>;
  readonly answers = new FlushQueue();
  private readonly perClass = new ClassCounts();
  private draining = false;

  constructor(
    private readonly ctx: TransportContext,
    readonly now: () => number,
  ) {
    this.holds = new HoldWheel(now, (waiter) => this.answer(waiter, 'timeout'));
  }

  get held(): number {
    return this.waiters.size;
  }

  countsByClass(): ReadonlyMap<string, number> {
    return this.perClass.byClass;
  }

  readonly handle = (res: HttpResponse, req: HttpRequest): void | Promise<void> => {
    const facts = readRequest(res, req, this.ctx.trustedIpHeader);
    if (this.draining) {
      // Not an error status: an empty answer that keeps the client's position, on a
      // connection that closes so the next poll lands on another process.
      const given = facts.query.get('cursor') ?? '';
      const cursor = given !== '' && parsePosition(given) !== INVALID_POSITION ? given : this.ctx.hub.head();
      return writeJson(res, 200, encodePollBody([], cursor, []), this.ctx.cors.headers(facts.origin), true);
    }
    return admitRequest(this.ctx, res, facts, (routes, auth) => this.accept(res, facts, routes, auth));
  };

  private accept(res: HttpResponse, facts: RequestFacts, routes: readonly Route[], auth: AuthResult): void {
    const ctx = this.ctx;
    const cls = ctx.classifier.classify(facts.query.get(ctx.classifier.param) ?? '', facts.userAgent);
    const cursorText = facts.query.get('cursor') ?? '';
    // A malformed cursor still gets an answer: every channel resets with reason `invalid`.
    const since = cursorText === '' ? null : parsePosition(cursorText);
    // The position to fall back on if the hold ends before every channel is live: the
    // client's own (valid) cursor, else the head now — never a later head, which could skip
    // messages delivered on the live channels meanwhile.
    const fallback = since !== null && since !== INVALID_POSITION ? cursorText : ctx.hub.head(routes);
    const waiter = new PollWaiter(this, res, facts.ip, facts.origin, routes, cls, fallback);
    claimResponse(res);
    res.onAborted(this.aborted.bind(this, waiter));
    this.waiters.add(waiter);
    this.perClass.add(cls.name);
    ctx.stats.connectionOpened('poll', cls.name);
    // A poll never outlives its token: it answers (empty) at expiry and the next poll is refused.
    const holdMs = Math.min(cls.pollHoldMs, Math.max(0, auth.expiresAtMs - Date.now()));
    this.holds.add(waiter, holdMs);
    for (const route of routes) {
      if (!waiter.open) break;
      ctx.hub.subscribe(waiter, route, since, (ready) => waiter.onReady(route, ready));
    }
  }

  /** Writes the answer (corked: this runs from timers and immediates) and releases the waiter. */
  answer(waiter: PollWaiter, outcome: PollOutcome): void {
    if (!waiter.open) return;
    const body = this.body(waiter);
    this.finish(waiter, outcome);
    const cors = this.ctx.cors.headers(waiter.origin);
    waiter.res.cork(() => writeJson(waiter.res, 200, body, cors));
  }

  private body(waiter: PollWaiter): string {
    if (!waiter.allLive) {
      // A channel is not covered yet: nothing can be claimed past the client's own cursor.
      return encodePollBody([], waiter.cursor, []);
    }
    const messages = (waiter.messages ?? []).sort((a, b) => a.seq - b.seq);
    const max = this.ctx.limits.pollBatchSize;
    const sent = messages.length > max ? messages.slice(0, max) : messages;
    const cursor = messages.length > max ? sent[sent.length - 1]!.id : this.ctx.hub.head(waiter.routes);
    const elements = sent.map((m) => m.poll);
    this.count(sent.length);
    return encodePollBody(elements, cursor, waiter.resets ?? []);
  }

  private count(n: number): void {
    if (n > 0) this.ctx.stats.delivered('poll', n);
  }

  private finish(waiter: PollWaiter, outcome: PollOutcome): void {
    if (!waiter.open) return;
    waiter.open = false;
    releaseResponse(waiter.res);
    this.holds.remove(waiter);
    this.waiters.delete(waiter);
    this.perClass.remove(waiter.cls.name);
    for (const route of waiter.routes) this.ctx.hub.unsubscribe(waiter, route);
    this.ctx.limiter.release(waiter.ip);
    this.ctx.stats.pollHold(outcome);
    this.ctx.stats.connectionClosed('poll', outcome === 'aborted' ? 'client' : outcome === 'drain' ? 'drain' : 'client');
  }

  /** Answers every held poll now, with its cursor: the clients poll again elsewhere. */
  drain(): Promise<void> {
    this.draining = true;
    for (const waiter of [...this.waiters]) this.answer(waiter, 'drain');
    return Promise.resolve();
  }

  /** After a reload: held polls on channels the new rules deny are answered now; returns how many channels. */
  revalidate(router: ChannelRouter): number {
    let ended = 0;
    for (const waiter of [...this.waiters]) {
      const denied = waiter.routes.filter((r) => {
        const now = router.route(r.channel);
        return now instanceof HeraldError || now.redisChannel !== r.redisChannel;
      }).length;
      if (denied === 0) continue;
      ended += denied;
      this.answer(waiter, 'message');
    }
    return ended;
  }

  close(): void {
    this.holds.stop();
  }

  private aborted(waiter: PollWaiter): void {
    this.finish(waiter, 'aborted');
  }
}
