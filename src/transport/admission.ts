import type { HttpResponse } from 'uWebSockets.js';
import { HeraldError } from '../errors.js';
import type { RequestFacts } from '../http/request.js';
import { writeError } from '../http/server.js';
import type { Route } from '../rules/router.js';
import type { AuthResult } from './authorize.js';
import { requestToken, resolveChannels } from './channels.js';
import type { TransportContext } from './context.js';

export type Admitted = (routes: readonly Route[], auth: AuthResult) => void;
/** Answers a request that arrives while the broker is down (SSE: a stream that says so). */
export type Unavailable = (cors: readonly (readonly [string, string])[]) => void;

/** Seconds a client should wait before retrying while the broker is down. */
export const BROKER_RETRY_AFTER_S = 2;

/**
 * The front half every HTTP subscribe request (SSE, poll) shares: channels → routes, the
 * per-IP slot, then the authorizer. Public routes decide synchronously, in the handler's
 * own cork; a token check awaits with onAborted attached first. On success the IP slot is
 * held and `admitted` owns releasing it; every refusal is answered and counted here.
 */
export function admitRequest(
  ctx: TransportContext,
  res: HttpResponse,
  facts: RequestFacts,
  admitted: Admitted,
  unavailable: Unavailable = (cors) => refuse(ctx, res, new HeraldError('broker_unavailable'), [...cors, ['Retry-After', String(BROKER_RETRY_AFTER_S)]]),
): void | Promise<void> {
  const cors = ctx.cors.headers(facts.origin);
  // A browser from an origin off the list could not read the stream anyway: refuse before
  // any subscription work (requests without Origin, same-origin or non-browser, pass).
  if (!ctx.cors.allowsOrigin(facts.origin)) return refuse(ctx, res, new HeraldError('origin_denied'), cors);
  const routes = resolveChannels(facts.query.getAll('channel'), ctx.router, ctx.limits.maxSubscriptionsPerConnection);
  if (routes instanceof HeraldError) return refuse(ctx, res, routes, cors);
  // Nothing could go live until Redis is back: answer now rather than hold the client silently.
  if (!ctx.brokerUp()) return unavailable(cors);
  if (!ctx.limiter.admit(facts.ip)) return refuse(ctx, res, new HeraldError('too_many_connections'), cors);
  const settle = (auth: AuthResult): void => {
    if (auth.error === null) return admitted(routes, auth);
    ctx.limiter.release(facts.ip);
    refuse(ctx, res, auth.error, cors);
  };
  const auth = ctx.authorize(routes, requestToken(facts.authorization, facts.query.get('token')));
  if (!(auth instanceof Promise)) return settle(auth);
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
    ctx.limiter.release(facts.ip);
  });
  return auth.then(
    (result) => {
      if (!aborted) res.cork(() => settle(result));
    },
    (err: unknown) => {
      // An authorizer bug must not keep this IP's slot: release, answer, then let guard() log it.
      if (aborted) throw err;
      aborted = true;
      ctx.limiter.release(facts.ip);
      res.cork(() => refuse(ctx, res, new HeraldError('internal'), cors));
      throw err;
    },
  );
}

export function refuse(ctx: TransportContext, res: HttpResponse, err: HeraldError, cors: readonly (readonly [string, string])[]): void {
  ctx.stats.clientError(err.code);
  writeError(res, err, cors);
}
