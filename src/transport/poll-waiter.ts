import type { HttpResponse } from 'uWebSockets.js';
import type { ClientClassConfig } from '../config/types.js';
import type { PollReset } from '../encode/poll.js';
import type { Ready } from '../hub/hub.js';
import type { PreparedMessage } from '../hub/message.js';
import { Listed, type ResetReason, type Subscriber } from '../hub/subscriber.js';
import type { Route } from '../rules/router.js';
import type { Flushable } from './flush.js';
import type { Held } from './hold-wheel.js';
import type { Session } from './lifecycle/lifecycle.js';
import { sortByPosition } from './lifecycle/resume.js';
import type { PollOutcome } from './stats.js';

/** What a held poll calls back into (PollTransport implements it). */
export interface PollOwner {
  readonly answers: { add(item: Flushable): void };
  /** Most messages one answer carries (limits.pollBatchSize, read live: a reload may change it). */
  readonly batchSize: number;
  answer(waiter: PollWaiter, outcome: PollOutcome): void;
  /** The client went away (uWS onAborted). */
  aborted(waiter: PollWaiter): void;
}

const NO_ROUTES: readonly Route[] = [];

/**
 * One GET /poll: subscribed to its channels only while held.
 *
 *   cursor "<epoch>:<seq>" ──► hub.subscribe(since = cursor) per channel
 *        ready: replay after cursor, or a reset ──► answer at once
 *        nothing yet ──► hold: first delivery answers when the callback that delivered it
 *                        returns (FlushQueue: messages of one Redis read go together),
 *                        or pollHoldMs ──► empty answer
 *   answer cursor = head while every channel is live (all up to it was replayed or delivered),
 *                 = last id sent when the batch was cut at pollBatchSize.
 *
 * Pooled: PollTransport hands an answered or aborted waiter to the next request (start()).
 * A held poll lives through one or two young-generation collections, and what it holds was
 * copied each time (many-channels poll: 5,000 held, 2.3 MB copied per scavenge, 8–12 ms
 * pauses). A reused waiter, with the two callbacks it gives out made once, sits in the old
 * generation. Safe to reuse because nothing calls back into an ended hold: uWS drops the
 * onAborted handler once a response is ended (HttpResponseData::markDone), the hub forgets a
 * subscriber on unsubscribe (pending, resuming and live sets alike), the hold wheel on
 * remove(), and a flush queued before the end finds `scheduled` cleared by start().
 */
export class PollWaiter extends Listed implements Subscriber, Session, Flushable, Held {
  get transport(): 'poll' {
    return 'poll';
  }
  open = true;
  sessionSlot = -1;
  private waiting = 0;
  /**
   * Allocated on the first message or reset: most held polls wait with neither. Bounded:
   * an answer carries the batchSize lowest seqs and its cursor stops at the last one, so
   * past 2 × batchSize the queue is cut back to those plus one, whatever arrives.
   */
  messages: PreparedMessage[] | null = null;
  resets: PollReset[] | null = null;
  private scheduled = false;
  /**
   * Set by PollTransport.accept while it subscribes: an answer due then (see `due`) is not
   * queued for the flush pass but written before the handler returns.
   */
  accepting = false;
  holdSlot = -1;
  holdIndex = -1;
  res: HttpResponse | null = null;
  ip = '';
  origin = '';
  routes: readonly Route[] = NO_ROUTES;
  cls!: ClientClassConfig;
  /**
   * The answer's cursor while a channel is not live yet: the client's own or the head at
   * accept (see PollTransport.accept). Once every channel is live the head is the cursor and
   * this is dropped, so a held poll does not keep its request's query alive (it is a slice of it).
   */
  cursor = '';
  /** uWS's onAborted handler for every request this waiter serves. */
  readonly abort = (): void => this.owner.aborted(this);
  /** The hub's ready callback, one for every route of every request this waiter serves. */
  readonly ready = (ready: Ready, route: Route): void => this.onReady(route, ready);

  constructor(readonly owner: PollOwner) {
    super();
  }

  /** Takes one request: every field as a new waiter would have it. */
  start(res: HttpResponse, ip: string, origin: string, routes: readonly Route[], cls: ClientClassConfig, fallback: string): this {
    this.open = true;
    this.waiting = routes.length;
    this.messages = null;
    this.resets = null;
    this.scheduled = false;
    this.accepting = false;
    this.res = res;
    this.ip = ip;
    this.origin = origin;
    this.routes = routes;
    this.cls = cls;
    this.cursor = fallback;
    return this;
  }

  /** After the end of a request: nothing of it stays reachable from the pooled waiter. */
  clear(): void {
    this.res = null;
    this.routes = NO_ROUTES;
    this.messages = null;
    this.resets = null;
    this.cursor = '';
  }

  get allLive(): boolean {
    return this.waiting === 0;
  }

  /** Every channel is live and something (a message or a reset) is there to answer with. */
  get due(): boolean {
    return this.allLive && (this.messages !== null || this.resets !== null);
  }

  /** How the answer that is due ends the hold. */
  get outcome(): 'message' | 'reset' {
    return this.resets !== null ? 'reset' : 'message';
  }

  deliver(message: PreparedMessage): void {
    if (!this.open) return;
    // A literal for the first: push() onto [] reserves 17 slots, and most answers carry one.
    if (this.messages === null) this.messages = [message];
    else {
      this.messages.push(message);
      this.bound(this.messages);
    }
    this.schedule();
  }

  reset(channel: string, reason: ResetReason): void {
    if (!this.open) return;
    (this.resets ??= []).push({ channel, reason });
    this.schedule();
  }

  onReady(route: Route, ready: Ready): void {
    if (!this.open) return;
    if (ready.replay.length > 0) {
      // The first channel's replay is copied at its size (a catch-up poll's run of messages):
      // a Ready's replay is read-only, and this array is pushed to and cut.
      if (this.messages === null) this.messages = ready.replay.slice();
      else for (const m of ready.replay) this.messages.push(m);
      this.bound(this.messages);
    }
    if (ready.reset !== null) (this.resets ??= []).push({ channel: route.channel, reason: ready.reset });
    if (--this.waiting !== 0) return;
    this.cursor = '';
    if (this.messages !== null || this.resets !== null) this.schedule();
  }

  /** The messages for the answer, oldest first. */
  takeMessages(): PreparedMessage[] {
    const messages = sortByPosition(this.messages ?? []);
    this.messages = null;
    return messages;
  }

  private bound(messages: PreparedMessage[]): void {
    const keep = this.owner.batchSize;
    // keep + 1: the answer must still see that there were more than it carries, so its
    // cursor stops at its last message rather than at the head.
    if (messages.length > 2 * keep) keepLowest(messages, keep + 1);
  }

  private schedule(): void {
    if (this.scheduled || !this.allLive) return;
    if (this.accepting) return;
    this.scheduled = true;
    // One shared pass, when the delivering callback returns, answers every poll that got something in it.
    this.owner.answers.add(this);
  }

  flush(): void {
    // Queued by an earlier request of this (pooled) waiter: start() cleared the flag.
    if (!this.scheduled) return;
    this.scheduled = false;
    this.owner.answer(this, this.outcome);
  }
}

/** Cuts `messages` to its `keep` lowest seqs, in seq order: the only ones an answer can carry. */
export function keepLowest(messages: PreparedMessage[], keep: number): void {
  sortByPosition(messages);
  messages.length = keep;
}
