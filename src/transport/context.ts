import type { ClientClassifier } from '../client-class.js';
import type { LimitsConfig, SseConfig } from '../config/types.js';
import type { CorsPolicy } from '../http/cors.js';
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../log.js';
import type { Authorizer } from './authorize.js';
import type { ChannelRouter } from './channels.js';
import type { ConnectionLimiter } from './connection-limit.js';
import type { TransportStats } from './stats.js';

/**
 * What every transport needs, built by daemon.ts. The reloadable parts (router, classes,
 * CORS, limits, authorizer) are plain fields that a SIGHUP reload replaces in place, so
 * connections opened after a reload see the new config and open ones keep working.
 */
export interface TransportContext {
  readonly hub: Hub;
  readonly stats: TransportStats;
  readonly log: Logger;
  readonly limiter: ConnectionLimiter;
  /** False while the broker link is down: new subscribers get a prompt `broker_unavailable`. */
  readonly brokerUp: () => boolean;
  router: ChannelRouter;
  classifier: ClientClassifier;
  cors: CorsPolicy;
  limits: LimitsConfig;
  sse: SseConfig;
  authorize: Authorizer;
  trustedIpHeader: string;
}
