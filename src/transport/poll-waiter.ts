import type { HttpResponse } from 'uWebSockets.js';
import type { ClientClassConfig } from '../config/types.js';
import type { PollReset } from '../encode/poll.js';
import type { Ready } from '../hub/hub.js';
import type { PreparedMessage } from '../hub/message.js';
import type { ResetReason, Subscriber } from '../hub/subscriber.js';
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
}

/**
 * One GET /poll: subscribed to its channels only while held.
 *
 *   cursor "<epoch>:<seq>" ──► hub.subscribe(since = cursor) per channel
 *        ready: replay after cursor, or a reset ──► answer at once
 *        nothing yet ──► hold: first delivery answers in the next setImmediate
 *                        (same-turn messages go together), or pollHoldMs ──► empty answer
 *   answer cursor = head while every channel is live (all up to it was replayed or delivered),
 *                 = last id sent when the batch was cut at pollBatchSize.
 */
export class PollWaiter implements Subscriber, Session, Flushable, Held {
  readonly transport = 'poll' as const;
  open = true;
  private waiting: number;
  /**
   * Allocated on the first message or reset: most held polls wait with neither. Bounded:
   * an answer carries the batchSize lowest seqs and its cursor stops at the last one, so
   * past 2 × batchSize the queue is cut back to those plus one, whatever arrives.
   */
  messages: PreparedMessage[] | null = null;
  resets: PollReset[] | null = null;
  private scheduled = false;
  holdSlot = -1;
  holdIndex = -1;

  constructor(
    readonly owner: PollOwner,
    readonly res: HttpResponse,
    readonly ip: string,
    readonly origin: string,
    readonly routes: readonly Route[],
    readonly cls: ClientClassConfig,
    /** Where the client goes on from if not every channel went live (see PollTransport.accept). */
    readonly cursor: string,
  ) {
    this.waiting = routes.length;
  }

  get allLive(): boolean {
    return this.waiting === 0;
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
      const messages = (this.messages ??= []);
      for (const m of ready.replay) messages.push(m);
      this.bound(messages);
    }
    if (ready.reset !== null) (this.resets ??= []).push({ channel: route.channel, reason: ready.reset });
    if (--this.waiting === 0 && (this.messages !== null || this.resets !== null)) this.schedule();
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
    this.scheduled = true;
    // One shared end-of-turn pass answers every poll that got something this turn.
    this.owner.answers.add(this);
  }

  flush(): void {
    this.owner.answer(this, this.resets !== null ? 'reset' : 'message');
  }
}

/** Cuts `messages` to its `keep` lowest seqs, in seq order: the only ones an answer can carry. */
export function keepLowest(messages: PreparedMessage[], keep: number): void {
  sortByPosition(messages);
  messages.length = keep;
}
