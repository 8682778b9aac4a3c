/**
 * The resolved configuration: complete (no `undefined` meaning "default"), in base units
 * (milliseconds, bytes), deep-frozen by `validate.ts`. Modules receive only their slice.
 * `schema.ts` is the single source of the YAML keys, defaults and docs behind these types.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type PayloadKind = 'text' | 'json';
export type BrokerKind = 'memory' | 'redis';

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  /** Header carrying the client IP when behind a trusted proxy (lower-case), or '' for the socket address. */
  readonly trustedIpHeader: string;
}

export interface BrokerConfig {
  readonly kind: BrokerKind;
  /** redis:// URL; ignored by the memory broker. */
  readonly url: string;
  /** Default time a Redis subscription outlives its last local subscriber. */
  readonly lingerMs: number;
  /** How often the liveness probe is published on the subscriber link. */
  readonly probeIntervalMs: number;
  /** A probe not seen back within this time means the link is dead: reconnect. */
  readonly probeTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /** Redis channel the liveness probe uses; the process id is appended. */
  readonly probeChannel: string;
}

export interface HistoryConfig {
  /** Messages kept per channel (0 disables history: every resume is a reset). */
  readonly size: number;
  readonly maxAgeMs: number;
  /** `redis`: durable, a Redis Stream capped by size and age (docs/resume.md). */
  readonly store: 'memory' | 'redis';
}

/** Access rule of a channel pattern (issue 4 extends the token forms). */
export type AccessRule =
  | { readonly kind: 'public' }
  | {
      readonly kind: 'token';
      /** Pattern parameter that must equal the `sub` claim, e.g. `userId`. */
      readonly subParam: string | null;
      /** Claim (array) that must contain the given pattern parameter's value. */
      readonly claimContains: { readonly claim: string; readonly param: string } | null;
      /** The token's `channels` claim must list the channel (exact or glob). */
      readonly channelsClaim: boolean;
    };

export interface RuleConfig {
  /** Client-facing pattern, e.g. `thread:{id}`; a parameter matches one segment (no `:`). */
  readonly pattern: string;
  /** Redis channel template, e.g. `app:thread:{id}`; defaults to the pattern. */
  readonly redis: string;
  readonly payload: PayloadKind;
  readonly history: HistoryConfig;
  readonly lingerMs: number;
  readonly access: AccessRule;
  /** API-key scopes allowed to publish here through POST /publish. */
  readonly publishScopes: readonly string[];
}

export interface ClientClassConfig {
  readonly name: string;
  /** Case-insensitive regular expression source matched against User-Agent, or '' for none. */
  readonly userAgent: string;
  /** A stream (SSE, WS) is ended gracefully after this long, so the client resumes elsewhere. */
  readonly lifetimeMs: number;
  /** A long-poll with nothing to answer is held this long. */
  readonly pollHoldMs: number;
  readonly heartbeatMs: number;
  /** A WebSocket with no traffic from the client for this long is closed. */
  readonly idleMs: number;
}

export interface ClassesConfig {
  /** Query parameter naming the class explicitly (e.g. `?client=mobile`). */
  readonly param: string;
  readonly defaultClass: string;
  /** In match order; the first User-Agent match wins. */
  readonly list: readonly ClientClassConfig[];
}

export interface LimitsConfig {
  /** Unsent bytes per connection past which it is dropped as a slow consumer. */
  readonly maxBufferedBytes: number;
  /** Larger incoming broker messages are dropped and counted. */
  readonly maxMessageBytes: number;
  readonly maxSubscriptionsPerConnection: number;
  readonly maxChannelLength: number;
  /** Largest WebSocket frame accepted from a client. */
  readonly maxFrameBytes: number;
  /** 0 means unlimited. */
  readonly maxConnectionsPerIp: number;
  readonly maxPublishBodyBytes: number;
  /** Most messages in one poll answer. */
  readonly pollBatchSize: number;
  /** Malformed WebSocket frames tolerated before the connection is closed. */
  readonly maxBadFrames: number;
}

export interface PublishKeyConfig {
  readonly key: string;
  /** Channel globs (`*` matches any run of characters) this key may publish to. */
  readonly scopes: readonly string[];
}

export interface PublishConfig {
  readonly enabled: boolean;
  /** Loopback callers may publish without a key. */
  readonly allowLoopback: boolean;
  readonly keys: readonly PublishKeyConfig[];
}

export interface JwtConfig {
  readonly algorithms: readonly string[];
  readonly secret: string;
  readonly publicKeyFile: string;
  readonly jwksFile: string;
  readonly issuer: string;
  readonly audience: string;
}

export interface CorsConfig {
  /** Allowed origins; `*` allows any. Empty: no CORS headers, and any Origin on WS upgrades. */
  readonly origins: readonly string[];
  readonly credentials: boolean;
}

export interface MetricsConfig {
  readonly enabled: boolean;
  /** '' serves /metrics on the main port; `host:port` serves it on its own listener. */
  readonly listen: string;
  /** IPs allowed to scrape; empty means anyone who can reach the listener. */
  readonly allow: readonly string[];
}

export interface DrainConfig {
  readonly deadlineMs: number;
  /** Disconnects are spread over this window to avoid a reconnect storm. */
  readonly windowMs: number;
}

export interface SseConfig {
  /** `retry:` hint sent at stream start. */
  readonly retryMs: number;
}

export interface Config {
  /** The file it came from (for messages), or '' when built from defaults. */
  readonly file: string;
  readonly server: ServerConfig;
  readonly broker: BrokerConfig;
  readonly channels: readonly RuleConfig[];
  readonly classes: ClassesConfig;
  readonly limits: LimitsConfig;
  readonly publish: PublishConfig;
  readonly jwt: JwtConfig;
  readonly cors: CorsConfig;
  readonly metrics: MetricsConfig;
  readonly drain: DrainConfig;
  readonly sse: SseConfig;
  readonly log: { readonly level: LogLevel };
}
