/**
 * The one catalogue of client-visible error codes. Wire codes are lowercase snake case and
 * stable once shipped; docs/errors.md's table must list exactly these (a test checks both
 * directions). `temporary` tells a client that retrying later may succeed.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly temporary: boolean;
  readonly message: string;
  /** Sent as Retry-After (seconds) on every HTTP answer with this code. */
  readonly retryAfterS?: number;
}

export const ErrorCode = {
  bad_request: { status: 400, temporary: false, message: 'Malformed request' },
  not_found: { status: 404, temporary: false, message: 'No such endpoint' },
  content_length_invalid: { status: 400, temporary: false, message: 'Content-Length is repeated with different values or malformed' },
  url_too_long: { status: 414, temporary: false, message: 'Request URL exceeds the size limit' },
  header_too_large: { status: 431, temporary: false, message: 'A request header exceeds the size limit' },
  channel_required: { status: 400, temporary: false, message: 'At least one channel is required' },
  channel_invalid: { status: 400, temporary: false, message: 'Channel name is not valid (charset or length)' },
  channel_denied: { status: 403, temporary: false, message: 'No rule allows this channel' },
  too_many_subscriptions: { status: 400, temporary: false, message: 'Subscription limit per connection reached' },
  already_subscribed: { status: 400, temporary: false, message: 'Already subscribed to this channel' },
  not_subscribed: { status: 400, temporary: false, message: 'Not subscribed to this channel' },
  frame_invalid: { status: 400, temporary: false, message: 'Frame is not a JSON object with a known shape' },
  frame_unknown_type: { status: 400, temporary: false, message: 'Unknown frame type' },
  frame_binary: { status: 400, temporary: false, message: 'Binary frames are not accepted' },
  frame_too_large: { status: 413, temporary: false, message: 'Frame exceeds the size limit' },
  payload_too_large: { status: 413, temporary: false, message: 'Body exceeds the size limit' },
  publish_unauthorized: { status: 401, temporary: false, message: 'A valid API key is required to publish' },
  publish_forbidden: { status: 403, temporary: false, message: 'This API key may not publish to this channel' },
  origin_denied: { status: 403, temporary: false, message: 'Origin is not allowed' },
  too_many_connections: { status: 429, temporary: true, message: 'Too many connections from this address' },
  token_missing: { status: 401, temporary: false, message: 'This channel requires a token' },
  token_invalid: { status: 401, temporary: false, message: 'Token is malformed' },
  token_signature_invalid: { status: 401, temporary: false, message: 'Token signature does not verify' },
  token_algorithm_denied: { status: 401, temporary: false, message: 'Token algorithm is not allowed' },
  token_expired: { status: 401, temporary: true, message: 'Token has expired; refresh it and resubscribe' },
  token_not_yet_valid: { status: 401, temporary: true, message: 'Token is not valid yet (nbf)' },
  token_claim_invalid: { status: 401, temporary: false, message: 'Token claims do not meet the policy (iss, aud, exp)' },
  token_forbidden: { status: 403, temporary: false, message: 'Token does not grant this channel' },
  slow_consumer: { status: 503, temporary: true, message: 'Connection fell too far behind and was dropped; resume' },
  broker_unavailable: { status: 503, temporary: true, message: 'Broker is not connected', retryAfterS: 2 },
  draining: { status: 503, temporary: true, message: 'Server is shutting down; reconnect elsewhere' },
  internal: { status: 500, temporary: true, message: 'Internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCodeName = keyof typeof ErrorCode;

/** The only error type Herald creates. `details` is safe to show the client (no secrets). */
export class HeraldError extends Error {
  readonly code: ErrorCodeName;
  readonly status: number;
  readonly temporary: boolean;

  constructor(code: ErrorCodeName, details?: string) {
    const spec = ErrorCode[code];
    super(details === undefined ? spec.message : `${spec.message}: ${details}`);
    this.name = 'HeraldError';
    this.code = code;
    this.status = spec.status;
    this.temporary = spec.temporary;
  }

  toJSON(): { error: { code: string; message: string; temporary: boolean } } {
    return { error: { code: this.code, message: this.message, temporary: this.temporary } };
  }
}

export function isHeraldError(value: unknown): value is HeraldError {
  return value instanceof HeraldError;
}
