import type { TransportName } from '../hub/subscriber.js';

/** Why a connection closed: the closed set of the `reason` label of herald_connections_closed_total. */
export const CLOSE_REASONS = ['client', 'lifetime', 'idle', 'slow_consumer', 'drain', 'token_expired', 'policy', 'error'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/**
 * How a held poll ended: the `outcome` label of herald_poll_holds_total. `policy`: a reload
 * denied one of its channels (the answer is empty; the next poll is refused with the reason).
 */
export const POLL_OUTCOMES = ['message', 'timeout', 'aborted', 'drain', 'reset', 'policy'] as const;
export type PollOutcome = (typeof POLL_OUTCOMES)[number];

/**
 * What transports count. metrics/ implements it (plain increments, counters.ts); transports
 * call it per connection event, never per socket a message goes to (deliveries are summed:
 * once per flush pass, once per WebSocket topic publish).
 */
export interface TransportStats {
  connectionOpened(transport: TransportName, clientClass: string): void;
  connectionClosed(transport: TransportName, reason: CloseReason): void;
  delivered(transport: TransportName, count: number): void;
  slowConsumerDrop(transport: TransportName): void;
  clientError(code: string): void;
  pollHold(outcome: PollOutcome): void;
}
