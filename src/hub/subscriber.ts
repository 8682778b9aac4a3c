import type { PreparedMessage } from './message.js';

export type TransportName = 'sse' | 'ndjson' | 'ws' | 'poll';

/**
 * Why a subscriber must refetch instead of resuming:
 * - epoch: the position is from another process (or an earlier run of this one);
 * - evicted: history no longer holds everything after the position (count or age bound);
 * - not_covered: the broker was not subscribed for part of the gap (linger ended, or the
 *   subscription started after the position);
 * - broker_gap: the Redis link dropped while live; messages published meanwhile are lost;
 * - invalid: the position is malformed or from the future.
 */
export type ResetReason = 'epoch' | 'evicted' | 'not_covered' | 'broker_gap' | 'invalid';

/**
 * Where a subscriber sits in the channels' live lists (subscriber-list.ts). Hub-owned:
 * subscribers extend Listed, which starts the fields as on no list, and never write them.
 */
export abstract class Listed {
  /** The first list it is on, and its index there. */
  listedIn: object | null = null;
  listedSlot = -1;
  /** The others, when it is on several channels' lists. */
  listedElsewhere: { readonly list: object; slot: number }[] | null = null;
}

/**
 * What the hub delivers to. Implemented by transports (one per SSE/poll connection, one per
 * channel for WebSocket topic groups).
 * Contract: called synchronously from the hub's fan-out loop, in seq order per channel;
 * implementations must not throw, must not block, and must not re-enter the hub
 * (queue the bytes, flush later in the same turn's cork).
 */
export interface Subscriber extends Listed {
  readonly transport: TransportName;
  deliver(message: PreparedMessage): void;
  /** The stream cannot be continued for `channel`; `position` is where it goes on from. */
  reset(channel: string, reason: ResetReason, position: string): void;
}
