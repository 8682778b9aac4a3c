import { HeraldError } from '../errors.js';
import type { Route } from '../rules/router.js';

export interface ChannelRouter {
  route(channel: string): Route | HeraldError;
}

/**
 * Resolves the channels a request names (duplicates collapsed, order kept) into routes, or
 * the first problem: none named, too many, an invalid name, or a channel no rule allows.
 */
export function resolveChannels(names: readonly string[], router: ChannelRouter, max: number): readonly Route[] | HeraldError {
  // One channel, the usual poll: the route's own list, no Set, spread or array per request.
  if (names.length === 1 && max >= 1) {
    const route = router.route(names[0]!);
    return route instanceof HeraldError ? route : route.alone;
  }
  const unique = [...new Set(names)];
  if (unique.length === 0) return new HeraldError('channel_required');
  if (unique.length > max) return new HeraldError('too_many_subscriptions', `at most ${max} (limits.maxSubscriptionsPerConnection)`);
  // Sized up front: push() would reserve 17 slots, and the array lives as long as the stream.
  const routes = new Array<Route>(unique.length);
  for (let i = 0; i < unique.length; i++) {
    const route = router.route(unique[i]!);
    if (route instanceof HeraldError) return route;
    routes[i] = route;
  }
  return routes;
}

/** Bearer token from the Authorization header, else the `token` query parameter. */
export function requestToken(authorization: string, queryToken: string | null): string {
  const m = /^bearer\s+(\S+)\s*$/i.exec(authorization);
  if (m !== null) return m[1]!;
  return queryToken ?? '';
}
