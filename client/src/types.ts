import type { TransportName } from './transports.js';

/** The public types of the client (index.ts re-exports them). */

export interface HeraldOptions {
  /** JWT for protected channels. */
  token?: string;
  /** Returns a fresh token: called before the current one expires and on `token_*` errors. */
  getToken?: () => string | Promise<string>;
  /** Transports to try, in order. @default ['ws', 'stream', 'poll'] */
  transports?: TransportName[];
  /** A connection that has not opened after this long counts as failed. @default 6000 */
  openTimeoutMs?: number;
  /** Backoff base: the n-th retry waits a random time in [0, min(max, base × 2ⁿ)]. @default 1000 */
  retryMs?: number;
  /** @default 30000 */
  maxRetryMs?: number;
  /** Disconnect while the tab is hidden; resume when it is shown. @default false */
  pauseHidden?: boolean;
  /** Extra query parameters on every request, e.g. `{ client: 'mobile' }`. */
  params?: Record<string, string>;
}

export interface HeraldMessage {
  channel: string;
  /** Opaque position of this message. */
  id: string;
  /** A string on `text` channels, the parsed JSON value on `json` channels. */
  data: unknown;
  /** The payload's event name on `json` channels, when it has one. */
  event?: string;
}

export interface SubscribeOptions {
  onMessage(message: HeraldMessage): void;
  /** Messages may have been missed (reason `epoch`, `evicted`, `not_covered`, `broker_gap`, `invalid`): refetch the state. */
  onReset?(channel: string, reason: string): void;
  /** The subscription was refused or ended by Herald (code from Herald's error table). */
  onError?(code: string, message: string): void;
}

export interface Subscription {
  readonly channel: string;
  unsubscribe(): void;
}

export type HeraldState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface StateEvent {
  state: HeraldState;
  /** The transport in use (or being tried). */
  transport: TransportName;
}
