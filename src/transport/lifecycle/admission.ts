import type { HttpResponse } from 'uWebSockets.js';
import { HeraldError } from '../../errors.js';
import type { RequestFacts } from '../../http/request.js';
import { writeError } from '../../http/server.js';
import type { Route } from '../../rules/router.js';
import { requestToken, resolveChannels } from '../channels.js';
import type { TransportContext } from '../context.js';
import type { AuthResult } from './authorize.js';

export type Admitted = (routes: readonly Route[], auth: AuthResult) => void;
/** Answers a request that arrives while the broker is down (SSE: a stream that says so). */
export type Unavailable = (cors: readonly (readonly [string, string])[]) => void;

/** Seconds a client should wait before retrying while the broker is down. */
export const BROKER_RETRY_AFTER_S = 2;

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
export function admitRequest(
  ctx: TransportContext,
  res: HttpResponse,
  facts: RequestFacts,
  admitted: Admitted,
  unavailable: Unavailable = (cors) => refuse(ctx, res, new HeraldError('broker_unavailable'), cors),
): void | Promise<void> {
  const cors = ctx.cors.headers(facts.origin);
  const routes = gate(ctx, facts, true);
  if (routes instanceof HeraldError) return routes.code === 'broker_unavailable' ? unavailable(cors) : refuse(ctx, res, routes, cors);
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
  writeError(res, err, err.code === 'broker_unavailable' ? [...cors, ['Retry-After', String(BROKER_RETRY_AFTER_S)]] : cors);
}
