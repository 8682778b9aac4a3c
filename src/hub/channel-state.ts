import type { Route } from '../rules/router.js';
import type { PreparedMessage } from './message.js';
import type { Position } from './position.js';
import type { Coverage } from './ports.js';
import type { ResetReason, Subscriber } from './subscriber.js';
import type { SubscriberList } from './subscriber-list.js';

/** Result handed to a subscriber once its channel is live. */
export interface Ready {
  /** Messages after `since`, oldest first (empty when no `since` or on reset). */
  readonly replay: readonly PreparedMessage[];
  readonly reset: ResetReason | null;
  /** The head position at that instant: everything up to it was replayed or reset. */
  readonly position: string;
}

export type ReadyCallback = (ready: Ready) => void;

/** What subscribe() calls once live: with the route it was given, so one callback serves every route of a connection. */
export type SubscribeReady = (ready: Ready, route: Route) => void;

export interface Pending {
  readonly sub: Subscriber;
  readonly route: Route;
  readonly since: Position | null;
  readonly ready: SubscribeReady;
}

/** The hub's state of one (client channel, Redis channel) mapping. */
export interface ChannelState {
  /** `route.key`: also the history key. */
  readonly key: string;
  /** keyDigest(key): the channel's part of every fingerprint (fingerprint.ts). */
  readonly keyHash: number;
  /** Replaced when a reload gives the same mapping a new rule (payload, history, linger). */
  route: Route;
  readonly subscribers: SubscriberList;
  /** What history.cover() returned when the channel last went live; null while not covered. */
  coverage: Coverage | null;
  pending: Pending[];
  live: boolean;
  /** The broker link dropped while live: subscribers get a reset when coverage returns. */
  gap: boolean;
  /** Payload digests of the last WINDOW−1 messages kept since coverage started (fingerprint.ts). */
  window: number[];
  /** Durable channels: which stream (position.ts), and the last stream id and life delivered. */
  readonly ck: string;
  lastStreamId: string | null;
  streamEpoch: string | null;
  /** Resumes reading the stream; live messages meanwhile are queued into each (bounded). */
  resuming: DurableResume[];
  /** Raw notifications held while a heal reads the gap (bounded); null when not healing. */
  healQueue: Buffer[] | null;
}

/**
 * A resume served from a durable channel's stream. Messages arriving while the read is in
 * flight are queued (up to replayMax, past that the resume is `evicted`) and deduplicated by
 * stream id against what the read returned (mercure's live queue during history replay).
 */
export interface DurableResume {
  readonly sub: Subscriber | null;
  readonly queue: PreparedMessage[];
  overflow: boolean;
  cancelled: boolean;
  /**
   * The newest stream id the resume's read returned, while this process has not yet handled
   * its notification: the resume completes once it has (or after NOTIFY_WAIT_MS), so the
   * replay ends exactly where live delivery begins. null: not waiting.
   */
  waitFor: string | null;
  finish: (() => void) | null;
}
