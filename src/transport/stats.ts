import type { TransportName } from '../hub/subscriber.js';

export type CloseReason = 'client' | 'lifetime' | 'idle' | 'slow_consumer' | 'drain' | 'token_expired' | 'policy' | 'error';
export type PollOutcome = 'message' | 'timeout' | 'aborted' | 'drain' | 'reset';

/**
 * What transports count. metrics/ implements it; transports call it per connection event,
 * never per delivered message (deliveries are summed and reported once per flush pass).
 */
export interface TransportStats {
  connectionOpened(transport: TransportName, clientClass: string): void;
  connectionClosed(transport: TransportName, reason: CloseReason): void;
  delivered(transport: TransportName, count: number): void;
  slowConsumerDrop(transport: TransportName): void;
  clientError(code: string): void;
  pollHold(outcome: PollOutcome): void;
}
