import type { ClientClassifier } from '../client-class.js';
import type { LimitsConfig, SseConfig } from '../config/types.js';
import type { CorsPolicy } from '../http/cors.js';
import type { Hub } from '../hub/hub.js';
import type { TransportName } from '../hub/subscriber.js';
import type { Logger } from '../log.js';
import type { Authorizer } from './lifecycle/authorize.js';
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

/** What the daemon drives on every transport, the same way. */
export interface Transport {
  readonly name: TransportName;
  /** Open connections (held polls for poll). */
  readonly size: number;
  countsByClass(): ReadonlyMap<string, number>;
  /** Sends every client elsewhere, spread over `windowMs` where the transport can; resolves when all are gone. */
  drain(windowMs: number): Promise<void>;
  /** After a reload: ends what the new rules no longer allow; returns the subscriptions ended. */
  revalidate(router: ChannelRouter): number;
  /** Stops the transport's timers (the process is stopping). */
  close(): void;
}
