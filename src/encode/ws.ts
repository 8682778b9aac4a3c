/**
 * WebSocket JSON envelopes (server → client). Pure.
 * A message frame is its poll element with a type (encode/poll.ts), which carries the raw
 * payload of a `json` channel or a `text` payload as a JSON string, built once per turn: never
 * parsed and re-stringified (no double encoding, no per-subscriber work).
 */

import { jsonString } from './json-string.js';

export function encodeWsMessage(pollElement: string): string {
  // The poll element is `{"channel":…,"id":…,…}`; the WS frame is the same object with a type.
  return '{"type":"message",' + pollElement.slice(1);
}

export function encodeWsControl(type: string, fields: Readonly<Record<string, string | number | boolean>>): string {
  return JSON.stringify({ type, ...fields });
}

/**
 * The `subscribed` frame, once per subscription: the same bytes as encodeWsControl gives
 * (key order included), without an object spread and a generic stringify per connect.
 */
export function encodeWsSubscribed(channel: string, position: string, id: string | null): string {
  const tail = id === null ? '}' : ',"id":' + jsonString(id) + '}';
  return '{"type":"subscribed","channel":' + jsonString(channel) + ',"position":' + jsonString(position) + tail;
}

export function encodeWsError(code: string, message: string, channel: string | null, id: string | null): string {
  const body: Record<string, string> = { type: 'error', code, message };
  if (channel !== null) body.channel = channel;
  if (id !== null) body.id = id;
  return JSON.stringify(body);
}

/** A client → server frame after shape checks. `id` is echoed in the reply when given. */
export type WsClientFrame =
  | { readonly type: 'subscribe'; readonly channel: string; readonly since: string | null; readonly token: string | null; readonly id: string | null }
  | { readonly type: 'unsubscribe'; readonly channel: string; readonly id: string | null }
  | { readonly type: 'ping'; readonly id: string | null };

/** Why a frame was refused; the codes are in errors.ts. */
export interface WsFrameProblem {
  readonly code: 'frame_invalid' | 'frame_unknown_type';
  readonly details: string;
}

/**
 * Decodes one text frame. Never throws on client input: anything that is not a JSON object
 * of a known shape comes back as a problem with the wire code to answer with.
 */
export function decodeWsFrame(text: string): WsClientFrame | WsFrameProblem {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return { code: 'frame_invalid', details: 'not JSON' };
    throw err;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { code: 'frame_invalid', details: 'not a JSON object' };
  const f = value as Record<string, unknown>;
  const id = optionalString(f, 'id');
  if (id === undefined) return { code: 'frame_invalid', details: '"id" must be a string' };
  if (typeof f.type !== 'string') return { code: 'frame_invalid', details: '"type" must be a string' };
  switch (f.type) {
    case 'ping':
      return { type: 'ping', id };
    case 'subscribe':
    case 'unsubscribe': {
      if (typeof f.channel !== 'string' || f.channel === '') return { code: 'frame_invalid', details: '"channel" must be a non-empty string' };
      if (f.type === 'unsubscribe') return { type: 'unsubscribe', channel: f.channel, id };
      const since = optionalString(f, 'since');
      if (since === undefined) return { code: 'frame_invalid', details: '"since" must be a string' };
      const token = optionalString(f, 'token');
      if (token === undefined) return { code: 'frame_invalid', details: '"token" must be a string' };
      return { type: 'subscribe', channel: f.channel, since, token, id };
    }
    default:
      return { code: 'frame_unknown_type', details: 'expected subscribe, unsubscribe or ping' };
  }
}

/** null when absent, undefined when present with the wrong type. */
function optionalString(f: Record<string, unknown>, key: string): string | null | undefined {
  const v = f[key];
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : undefined;
}

export function isWsFrameProblem(v: WsClientFrame | WsFrameProblem): v is WsFrameProblem {
  return 'code' in v;
}
