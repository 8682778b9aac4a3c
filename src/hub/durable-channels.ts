import { parseNotification, replaySeq, streamIdOf, type Notification } from './durable-notification.js';
import type { ChannelState, DurableResume, Ready, ReadyCallback } from './channel-state.js';
import { WINDOW } from './fingerprint.js';
import { PreparedMessage } from './message.js';
import type { DurableRead, DurableStore } from './ports.js';
import { compareStreamIds, formatStreamPosition, toDs, type Position } from './position.js';
import type { Route } from '../rules/router.js';
import type { HubOptions } from './hub-options.js';

/** How often a read (a heal's or a resume's) is retried while the store's own connection comes back. */
const READ_ATTEMPTS = 20;
const READ_RETRY_MS = 250;
/** A heal queue that passed its bound: the heal ends in a broker_gap reset. */
const OVERFLOW: Buffer[] = [];

/** What durable channels need from the hub (which owns channel states and the sequence). */
export interface DurableHost {
  /** The hub's current options (a reload replaces them). */
  options(): Pick<HubOptions, 'history' | 'stats' | 'log' | 'clock' | 'wallClock' | 'replayMax'>;
  nextSeq(): number;
  head(routes: readonly Route[]): string;
  /** The SSE event name, '' for text; null when a JSON payload is invalid (counted). */
  eventOf(state: ChannelState, text: string): string | null;
  /** Appends to history and delivers to every live subscriber. */
  fanOut(state: ChannelState, message: PreparedMessage, now: number): void;
  /** The state is still the hub's and live (not forgotten, no new link loss). */
  isCurrent(state: ChannelState): boolean;
}

/**
 * Durable channels in the hub (docs/resume.md): messages named by their Redis Stream id,
 * resumes served by one stream read with live messages queued meanwhile, and gaps after a
 * link loss healed by reading the stream instead of a broker_gap reset.
 */
/** How long a resume waits for the notifications of entries its read returned (see resume()). */
const NOTIFY_WAIT_MS = 2000;

export class DurableChannels {
  constructor(
    private readonly h: DurableHost,
    private readonly store: DurableStore,
  ) {}

  /**
   * Serves a durable channel's resume from its stream; `done` runs in the turn the read
   * completes, so the subscriber joins the live set right after the queued messages.
   */
  resume(state: ChannelState, since: Position & { kind: 'stream' }, sub: ChannelState['resuming'][number]['sub'], done: ReadyCallback): void {
    const isSameStream = since.ck === state.ck;
    // Another channel's durable id: Redis's one clock orders the two streams; read from its ms.
    const afterId = isSameStream ? since.id : `${since.ms - 1}-18446744073709551615`;
    const resume: DurableResume = { sub, queue: [], overflow: false, cancelled: false, waitFor: null, finish: null };
    state.resuming.push(resume);
    void this.read(state, afterId, isSameStream ? since.epoch : null, () => !resume.cancelled).then((r) => {
      const complete = (): void => {
        state.resuming = state.resuming.filter((x) => x !== resume);
        if (!resume.cancelled) this.guard(() => done(this.ready(state, since, afterId, resume, r)));
      };
      if (resume.cancelled) return complete();
      const newest = r.ok ? r.entries[r.entries.length - 1]?.id : undefined;
      if (!r.ok || newest === undefined || !this.isInFlight(state, newest, r.epoch)) return complete();
      // The read returned entries whose notifications this process has not handled yet: had
      // the subscriber joined now, it would get them twice (replay, then live) and out of
      // order. Wait for them, bounded: their messages are then in history, in stream order.
      resume.waitFor = newest;
      const timer = setTimeout(() => resume.finish?.(), NOTIFY_WAIT_MS);
      resume.finish = () => {
        clearTimeout(timer);
        resume.finish = null;
        complete();
      };
    });
  }

  /** Whether stream entry `id` is recent and newer than the last notification handled here. */
  private isInFlight(state: ChannelState, id: string, epoch: string): boolean {
    const isRecent = Number(id.slice(0, id.indexOf('-'))) >= this.h.options().wallClock() - NOTIFY_WAIT_MS;
    const isAhead = state.lastStreamId === null || state.streamEpoch !== epoch || compareStreamIds(id, state.lastStreamId) > 0;
    return isRecent && isAhead;
  }

  /** Resumes waiting for notifications up to `lastStreamId` complete, after this turn's fan-out. */
  private releaseCaughtUp(state: ChannelState): void {
    const last = state.lastStreamId;
    if (last === null) return;
    for (const r of state.resuming) {
      if (r.waitFor === null || r.finish === null || compareStreamIds(last, r.waitFor) < 0) continue;
      r.waitFor = null;
      const finish = r.finish;
      setImmediate(() => this.guard(finish));
    }
  }

  /** The rule's bounds go to the stream's meta, so an app's FCALL trims alike. */
  describe(state: ChannelState): void {
    this.store.describe(state.route.redisChannel, state.route.rule.history);
  }

  /**
   * A message on a durable channel. A plain PUBLISH there is dropped and counted
   * (`not_durable`), never delivered: it is not in the stream, so a client resuming across
   * it could never get it, and delivering it to some clients only would be a silent loss for
   * the others. While a heal reads the gap, notifications wait in order (bounded).
   */
  onMessage(state: ChannelState, note: Notification | null, raw: Buffer, text: string, seq: number, now: number, ds: number): void {
    if (note === null) {
      this.h.options().stats.dropped('not_durable');
      return;
    }
    if (state.healQueue !== null) {
      if (state.healQueue === OVERFLOW) return;
      // A copy: the payload is the broker's read buffer, valid during this call only (ports.ts).
      if (state.healQueue.length < this.h.options().replayMax) state.healQueue.push(Buffer.from(raw));
      else state.healQueue = OVERFLOW;
      return;
    }
    if (state.lastStreamId !== null && state.streamEpoch === note.epoch && compareStreamIds(note.id, state.lastStreamId) <= 0) return;
    const message = this.message(state, note, text, seq, now, ds);
    state.lastStreamId = note.id;
    state.streamEpoch = note.epoch;
    if (message === null) return;
    for (const r of state.resuming) {
      if (r.queue.length < this.h.options().replayMax) (r.queue as PreparedMessage[]).push(message);
      else r.overflow = true;
    }
    this.h.fanOut(state, message, now);
    this.releaseCaughtUp(state);
  }

  /** Durable messages are indexed by their full id: exact on every process. */
  message(state: ChannelState, note: Notification, text: string, seq: number, now: number, ds: number): PreparedMessage | null {
    const event = this.h.eventOf(state, text);
    if (event === null) return null;
    const id = formatStreamPosition(note.id, note.epoch, state.ck);
    return new PreparedMessage(state.route.channel, seq, id, text, state.route.rule.payload === 'json', event, now, id, ds, WINDOW, 0);
  }

  ready(state: ChannelState, since: Position & { kind: 'stream' }, afterId: string, resume: DurableResume, r: DurableRead): Ready {
    const position = this.h.head([state.route]);
    if (!r.ok) return { replay: [], reset: r.reason === 'unavailable' ? 'not_covered' : r.reason, position };
    if (resume.overflow) return { replay: [], reset: 'evicted', position };
    const first = r.entries[0];
    if (since.ck !== state.ck && first !== undefined && Number(first.id.slice(0, first.id.indexOf('-'))) === since.ms) {
      return { replay: [], reset: 'not_covered', position }; // same millisecond on two streams: no order
    }
    const replay: PreparedMessage[] = [];
    let last = afterId;
    const now = this.h.options().clock();
    for (const e of r.entries) {
      const id = formatStreamPosition(e.id, r.epoch, state.ck);
      const kept = this.h.options().history.locate(id);
      const text = e.payload.toString('utf8');
      const m = kept !== null && kept !== 'ambiguous' ? kept.message : this.message(state, { epoch: r.epoch, id: e.id, body: e.payload }, text, replaySeq(e.id), now, 0);
      last = e.id;
      if (m !== null) replay.push(m);
    }
    for (const m of resume.queue) if (compareStreamIds(streamIdOf(m.id), last) > 0) replay.push(m);
    return { replay, reset: null, position };
  }

  /**
   * Coverage came back after a link loss: read what the stream got meanwhile, from the last id
   * delivered, instead of a broker_gap reset. Notifications arriving during the read wait in
   * healQueue and are applied after it, deduplicated by stream id.
   */
  heal(state: ChannelState): void {
    state.healQueue = [];
    void this.read(state, state.lastStreamId!, state.streamEpoch, () => this.h.isCurrent(state)).then((r) => this.guard(() => {
      if (!this.h.isCurrent(state)) {
        state.healQueue = null; // forgotten, or the link dropped again: the next coverage heals
        return;
      }
      const queue = state.healQueue;
      state.healQueue = null;
      if (!r.ok || queue === OVERFLOW) {
        const position = this.h.head([state.route]);
        state.subscribers.resetAll(state.route.channel, 'broker_gap', position);
        state.lastStreamId = null;
      } else {
        const now = this.h.options().clock();
        const ds = toDs(this.h.options().wallClock());
        for (const e of r.entries) this.onMessage(state, { epoch: r.epoch, id: e.id, body: e.payload }, e.payload, e.payload.toString('utf8'), this.h.nextSeq(), now, ds);
      }
      for (const raw of queue ?? []) {
        const note = parseNotification(raw);
        if (note !== null) this.onMessage(state, note, raw, note.body.toString('utf8'), this.h.nextSeq(), this.h.options().clock(), toDs(this.h.options().wallClock()));
      }
    }));
  }

  /**
   * A stream read, retried while the store's connection is away and `wanted()` holds. The
   * broker's links can be back (Herald ready, new subscribers admitted) before the store's own
   * connection is: a resume read in that window answered `not_covered`, where waiting a
   * moment gives the exact replay. Bounded: READ_ATTEMPTS × READ_RETRY_MS (5 s), then the
   * caller resets as before; live messages meanwhile queue in the resume or the heal (bounded).
   */
  private async read(state: ChannelState, afterId: string, epoch: string | null, wanted: () => boolean): Promise<DurableRead> {
    for (let attempt = 1; ; attempt++) {
      const r = await this.store.read(state.route.redisChannel, afterId, epoch, this.h.options().replayMax);
      if (r.ok || r.reason !== 'unavailable' || attempt === READ_ATTEMPTS || !wanted()) return r;
      await new Promise<void>((next) => setTimeout(next, READ_RETRY_MS));
    }
  }

  /** Callbacks from the durable store run outside any guard: log instead of crashing. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.h.options().log.error('hub callback failed', { err: err instanceof Error ? err : new Error(String(err)) });
    }
  }

}
