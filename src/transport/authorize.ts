import type { HeraldError } from '../errors.js';
import type { Route } from '../rules/router.js';

export interface AuthResult {
  readonly error: HeraldError | null;
  /** When the token behind protected routes expires (Infinity when none applies). */
  readonly expiresAtMs: number;
}

/**
 * Decides whether a connection presenting `token` ('' for none) may subscribe to `routes`.
 * Public-only route sets answer synchronously, so the common path never awaits.
 * Implemented in auth/ and injected by daemon.ts.
 */
export type Authorizer = (routes: readonly Route[], token: string) => AuthResult | Promise<AuthResult>;

export const ALLOWED_FOREVER: AuthResult = Object.freeze({ error: null, expiresAtMs: Infinity });
