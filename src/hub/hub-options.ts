/** The hub's options and what it counts: apart from hub.ts so its helpers (durable-channels.ts) can name them without a cycle. */
import type { Logger } from '../log.js';
import type { Scheduler } from './interest.js';
import type { Broker, DurableStore, History } from './ports.js';

/**
 * Messages the hub discarded: the `reason` label of herald_messages_dropped_total. A dropped
 * slow consumer loses nothing (it resumes from its last id), so it is not a drop; a plain
 * PUBLISH on a durable channel (`not_durable`) is dropped for every client alike.
 */
export const DROP_REASONS = ['invalid_json', 'oversize', 'not_durable'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** What the hub counts; implemented by metrics/ (type-only dependency). */
export interface HubStats {
  messageReceived(): void;
  dropped(reason: DropReason, count?: number): void;
  observeLatency(seconds: number): void;
}

export interface HubOptions {
  readonly broker: Broker;
  readonly history: History;
  /** Timers and end-of-turn callbacks for the hub's interest tracker (linger, batched edges). */
  readonly scheduler: Scheduler;
  readonly epoch: string;
  /** This process in positions (position.ts): 4 × [a-z0-9]. */
  readonly tag: string;
  /** Monotonic milliseconds (performance.now in production). */
  readonly clock: () => number;
  /** Wall-clock milliseconds (Date.now): receive times other processes compare (position.ts). */
  readonly wallClock: () => number;
  readonly log: Logger;
  readonly stats: HubStats;
  readonly maxMessageBytes: number;
  readonly replayMax: number;
  /** Every Nth message is timed from broker ingress to the end of its fan-out turn. */
  readonly latencySampleEvery: number;
  /** Durable channels' history (Redis Streams); null on the memory broker, where `store: redis` is the in-process history. */
  readonly durable: DurableStore | null;
}
