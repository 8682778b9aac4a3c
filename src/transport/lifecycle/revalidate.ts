import { HeraldError } from '../../errors.js';
import type { Route } from '../../rules/router.js';
import type { ChannelRouter } from '../channels.js';

/**
 * After a reload: why `route` may no longer be followed (the new rules deny the channel, or
 * map it to another Redis channel), or null when it holds unchanged.
 */
export function routeChange(router: ChannelRouter, route: Route): HeraldError | null {
  const next = router.route(route.channel);
  if (next instanceof HeraldError) return next;
  if (next.redisChannel !== route.redisChannel) return new HeraldError('channel_denied', 'the channel rules changed; subscribe again');
  return null;
}

/**
 * For transports whose connection holds all its channels at once (SSE, NDJSON, poll): each
 * connection with a changed route is ended through `end`, with the first change found.
 * Returns the number of subscriptions ended (a connection's every channel), the one unit
 * every transport's revalidate reports.
 */
export function revalidateConnections<C extends { readonly routes: readonly Route[] }>(
  connections: Iterable<C>,
  router: ChannelRouter,
  end: (conn: C, err: HeraldError, route: Route) => void,
): number {
  let ended = 0;
  for (const conn of [...connections]) {
    const routes = conn.routes;
    for (const route of routes) {
      const err = routeChange(router, route);
      if (err === null) continue;
      // Counted from the list read before `end`: an ended poll's waiter is pooled and let go of its routes.
      end(conn, err, route);
      ended += routes.length;
      break;
    }
  }
  return ended;
}
