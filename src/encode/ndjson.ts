/**
 * Newline-delimited JSON streaming (`GET /stream`, the format DISQUS served): one JSON object
 * per line, message lines equal to the WebSocket envelopes. Pure.
 */

/** A control line (`reset`, `reconnect`, `stream-error`): `{"type":…, "position"?:…, …fields}`. */
export function encodeNdjsonControl(type: string, position: string, fieldsJson: string): string {
  const rest = fieldsJson.length > 2 ? ',' + fieldsJson.slice(1) : '}';
  return '{"type":' + JSON.stringify(type) + (position === '' ? '' : ',"position":"' + position + '"') + rest + '\n';
}

/** Keep-alive: an empty line, which NDJSON readers skip. */
export const NDJSON_HEARTBEAT = '\n';
