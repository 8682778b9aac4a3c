/**
 * The two authorisation decisions the daemon wires in: may a connection subscribe (a JWT
 * when a route needs one), and may a caller publish (API key or loopback). Each failure is
 * reported once through `onFailure` (metrics count it by code).
 */
import type { PublishConfig } from '../config/types.js';
import { HeraldError, isHeraldError } from '../errors.js';
import type { Route } from '../rules/router.js';
import { ALLOWED_FOREVER, type AuthResult, type Authorizer } from '../transport/lifecycle/authorize.js';
import { checkAccess, publishAllowed, ruleAcceptsPublish } from './access.js';
import { msUntilExpiry, type TokenVerifier } from './jwt.js';

export type AuthFailureSink = (error: HeraldError) => void;

/**
 * Subscribe authorisation. Public-only route sets answer synchronously (no await on the
 * common path); otherwise the token is verified, every route's rule checked against its
 * claims, and the answer carries the token's remaining lifetime (`ttlMs`), read here, once,
 * from the wall clock the `exp` claim is on.
 */
export function subscribeAuthorizer(verifier: TokenVerifier, onFailure: AuthFailureSink, wallClock: () => number = Date.now): Authorizer {
  const failed = (error: HeraldError): AuthResult => {
    onFailure(error);
    return { error, ttlMs: 0 };
  };
  return (routes, token) => {
    if (allPublic(routes)) return ALLOWED_FOREVER;
    if (token === '') return failed(new HeraldError('token_missing'));
    return verifier.verify(token).then(
      (claims): AuthResult => {
        for (const route of routes) {
          const denied = checkAccess(route, claims);
          if (denied !== null) return failed(denied);
        }
        return { error: null, ttlMs: msUntilExpiry(claims, wallClock()) };
      },
      (err: unknown): AuthResult => {
        if (!isHeraldError(err)) throw err;
        return failed(err);
      },
    );
  };
}

/** Publish authorisation: null = allowed. Reads `config()` per call, so a reload applies at once. */
export function publishAuthorizer(config: () => PublishConfig, onFailure: AuthFailureSink): (route: Route, key: string, loopback: boolean) => HeraldError | null {
  return (route, key, loopback) => {
    const publish = config();
    const denied = key === '' && loopback && publish.allowLoopback ? ruleAcceptsPublish(route) : publishAllowed(publish.keys, key, route);
    if (denied !== null) onFailure(denied);
    return denied;
  };
}

/** Every route public (a loop, not every() with a closure: this runs once per poll cycle). */
function allPublic(routes: readonly Route[]): boolean {
  for (let i = 0; i < routes.length; i++) if (routes[i]!.rule.access.kind !== 'public') return false;
  return true;
}
