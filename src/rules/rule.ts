/**
 * One configured channel rule, as config/ builds it and the router matches it. Owned here,
 * below config/: config/ builds rules and imports these types, rules/ never imports config/.
 */

export type PayloadKind = 'text' | 'json';

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
  /**
   * A stream (SSE, NDJSON) written less than this long ago holds its next write until this
   * long has passed (transport/flush.ts DelayedFlushQueue); 0 writes every turn.
   */
  readonly batchDelayMs: number;
  readonly access: AccessRule;
  /** API-key scopes allowed to publish here through POST /publish. */
  readonly publishScopes: readonly string[];
}
