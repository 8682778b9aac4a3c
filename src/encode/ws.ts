/**
 * WebSocket JSON envelopes (server → client). Pure.
 * `dataJson` is already valid JSON text: the raw payload of a `json` channel, or the payload
 * string JSON-encoded once for a `text` channel. It is embedded by concatenation, never
 * parsed and re-stringified (no double encoding, no per-subscriber work).
 */

export function encodeWsMessage(pollElement: string): string {
  // The poll element is `{"channel":…,"id":…,…}`; the WS frame is the same object with a type.
  return '{"type":"message",' + pollElement.slice(1);
}

export function encodeWsControl(type: string, fields: Readonly<Record<string, string | number | boolean>>): string {
  return JSON.stringify({ type, ...fields });
}

export function encodeWsError(code: string, message: string, channel: string | null, id: string | null): string {
  const body: Record<string, string> = { type: 'error', code, message };
  if (channel !== null) body.channel = channel;
  if (id !== null) body.id = id;
  return JSON.stringify(body);
}
