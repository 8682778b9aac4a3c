import type { HttpResponse } from 'uWebSockets.js';
import { ErrorCode, HeraldError } from '../../errors.js';
import type { RequestFacts } from '../../http/request.js';
import { writeError } from '../../http/server.js';
import type { Route } from '../../rules/router.js';
import { requestToken, resolveChannels } from '../channels.js';
import type { TransportContext } from '../context.js';
import type { AuthResult } from './authorize.js';

/** Called once admitted. Transports pass a method bound once, not a closure per request. */
export type Admitted = (res: HttpResponse, facts: RequestFacts, routes: readonly Route[], auth: AuthResult) => void;
/** Answers a request that arrives while the broker is down (SSE: a stream that says so). */
export type Unavailable = (res: HttpResponse, cors: readonly (readonly [string, string])[]) => void;

/** Seconds a client should wait before retrying while the broker is down (the catalogue's Retry-After). */
export const BROKER_RETRY_AFTER_S = ErrorCode.broker_unavailable.retryAfterS;

/**
 * The checks every new connection passes, in one order, for every transport (a draining
 * process answers before this, in each transport's own way):
 *   1. origin: a browser from an origin off the list could not read the answer anyway,
 *      so no subscription work is done for it (no Origin, same-origin or non-browser, pass);
 *   2. channels, when the request names them up front (SSE, NDJSON, poll; a WebSocket
 *      subscribes later, frame by frame, through the same router and authorizer);
 *   3. the broker: nothing could go live until it is back, so answer now rather than hold
 *      the client silently;
 *   4. the per-IP slot, held from here on: whoever gets a connection releases it once.
 */
function gate(ctx: TransportContext, facts: RequestFacts, withChannels: boolean): HeraldError | readonly Route[] {
  if (!ctx.cors.allowsOrigin(facts.origin)) return new HeraldError('origin_denied');
  const routes = withChannels ? resolveChannels(facts.query.getAll('channel'), ctx.router, ctx.limits.maxSubscriptionsPerConnection) : [];
  if (routes instanceof HeraldError) return routes;
  if (!ctx.brokerUp()) return new HeraldError('broker_unavailable');
  if (!ctx.limiter.admit(facts.ip)) return new HeraldError('too_many_connections');
  return routes;
}

/**
 * Admission of an HTTP subscribe request (SSE, NDJSON, poll): the gate, then the authorizer.
 * Public routes decide synchronously, in the handler's own cork; a token check awaits with
 * onAborted attached first. On success the IP slot is held and `admitted` owns releasing
 * it; every refusal is answered and counted here.
 */
export function admitRequest(ctx: TransportContext, res: HttpResponse, facts: RequestFacts, admitted: Admitted, unavailable?: Unavailable): void | Promise<void> {
  const routes = gate(ctx, facts, true);
  if (routes instanceof HeraldError) {
    const cors = ctx.cors.headers(facts.origin);
    return routes.code === 'broker_unavailable' && unavailable !== undefined ? unavailable(res, cors) : refuse(ctx, res, routes, cors);
  }
  const auth = ctx.authorize(routes, requestToken(facts.authorization, facts.query.get('token')));
  // The synchronous (public) path allocates no closure: it runs once per poll cycle.
  if (!(auth instanceof Promise)) return settleAuth(ctx, res, facts, routes, auth, admitted);
  const settle = (result: AuthResult): void => settleAuth(ctx, res, facts, routes, result, admitted);
  const cors = ctx.cors.headers(facts.origin);
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

function settleAuth(ctx: TransportContext, res: HttpResponse, facts: RequestFacts, routes: readonly Route[], auth: AuthResult, admitted: Admitted): void {
  if (auth.error === null) return admitted(res, facts, routes, auth);
  ctx.limiter.release(facts.ip);
  refuse(ctx, res, auth.error, ctx.cors.headers(facts.origin));
}

/**
 * Admission of a WebSocket upgrade: the same gate, without channels (each `subscribe`
 * frame is routed and authorized on its own). True when admitted: the IP slot is then held
 * and the socket's close releases it. A refusal is answered (no upgrade) and counted here.
 */
export function admitUpgrade(ctx: TransportContext, res: HttpResponse, facts: RequestFacts): boolean {
  const refusal = gate(ctx, facts, false);
  if (!(refusal instanceof HeraldError)) return true;
  refuse(ctx, res, refusal, []);
  return false;
}

export function refuse(ctx: TransportContext, res: HttpResponse, err: HeraldError, cors: readonly (readonly [string, string])[]): void {
  ctx.stats.clientError(err.code);
  writeError(res, err, cors);
}
