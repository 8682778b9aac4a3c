/**
 * How a POST /publish ended: the closed set of the `outcome` label of
 * herald_publish_requests_total. Its own file so metrics/ can read the set without loading
 * the HTTP layer (and uWebSockets.js) into a supervisor.
 */
export const PUBLISH_OUTCOMES = ['ok', 'unauthorized', 'forbidden', 'invalid', 'too_large', 'unavailable'] as const;
export type PublishOutcome = (typeof PUBLISH_OUTCOMES)[number];
