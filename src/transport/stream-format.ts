import { encodeNdjsonControl, NDJSON_HEARTBEAT } from '../encode/ndjson.js';
import { encodeSseComment, encodeSseControl, encodeSseRetry } from '../encode/sse.js';
import type { PreparedMessage } from '../hub/message.js';

/**
 * What differs between the two long-lived HTTP streams (SSE and NDJSON); the connection
 * lifecycle, batching, backpressure and resume are the same code.
 */
export interface StreamFormat {
  readonly transport: 'sse' | 'ndjson';
  readonly headers: readonly (readonly [string, string])[];
  message(m: PreparedMessage): Buffer;
  /** First bytes of a stream (SSE: the retry hint). */
  start(retryMs: number): string;
  readonly heartbeat: string;
  /** `subscribed`, `reset`, `reconnect`, `stream-error`: `fieldsJson` is a JSON object. */
  control(type: string, position: string, fieldsJson: string): string;
  /** The last bytes when a stream reaches its lifetime. */
  readonly lifetimeEnd: string;
}

/**
 * Headers that keep every hop from buffering or caching a stream:
 * - no-transform stops compressing proxies from holding bytes back (RFC 9111 §5.2.2.6);
 * - X-Accel-Buffering: no turns off nginx's proxy buffering for this response only.
 */
const NO_BUFFERING: readonly (readonly [string, string])[] = [
  ['Cache-Control', 'no-cache, no-store, no-transform'],
  ['X-Accel-Buffering', 'no'],
];

export const SSE_FORMAT: StreamFormat = {
  transport: 'sse',
  headers: [['Content-Type', 'text/event-stream; charset=utf-8'], ...NO_BUFFERING],
  message: (m) => m.sse,
  start: (retryMs) => encodeSseRetry(retryMs),
  heartbeat: ': hb\n\n',
  control: (type, position, fieldsJson) => encodeSseControl(type, position, fieldsJson),
  lifetimeEnd: encodeSseComment('stream lifetime reached; reconnect to resume'),
};

export const NDJSON_FORMAT: StreamFormat = {
  transport: 'ndjson',
  headers: [['Content-Type', 'application/x-ndjson; charset=utf-8'], ...NO_BUFFERING],
  message: (m) => m.ndjson,
  // uWS sends the headers with the first body byte: an empty line (skipped by readers) opens
  // the stream at once, so a fetch() reader sees it is live before the first message.
  start: () => NDJSON_HEARTBEAT,
  heartbeat: NDJSON_HEARTBEAT,
  control: (type, position, fieldsJson) => encodeNdjsonControl(type, position, fieldsJson),
  lifetimeEnd: encodeNdjsonControl('end', '', '{"reason":"lifetime"}'),
};
