import type { HeraldError } from '../../errors.js';
import type { Route } from '../../rules/router.js';

export interface AuthResult {
  readonly error: HeraldError | null;
  /**
   * How long the token behind protected routes stays valid from now, in ms (Infinity when
   * none applies). A remaining time, not a wall-clock instant: the lifecycle adds it to its
   * own monotonic clock, so a wall-clock step cannot move an expiry.
   */
  readonly ttlMs: number;
}

/**
 * Decides whether a connection presenting `token` ('' for none) may subscribe to `routes`.
 * Public-only route sets answer synchronously, so the common path never awaits.
 * Implemented in auth/ and injected by daemon.ts.
 */
export type Authorizer = (routes: readonly Route[], token: string) => AuthResult | Promise<AuthResult>;

export const ALLOWED_FOREVER: AuthResult = Object.freeze({ error: null, ttlMs: Infinity });
