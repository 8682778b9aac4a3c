import { isSafeEventName } from './sse.js';

/**
 * The event name a JSON payload carries (its top-level string `event` field), as every
 * transport forwards it: only when the SSE framing can carry it (encode/sse.ts decides),
 * so SSE, NDJSON, WebSocket and poll clients all see the same name, or none. Pure.
 */
export function carriedEventName(parsed: unknown): string {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return '';
  const event = (parsed as { event?: unknown }).event;
  return typeof event === 'string' && isSafeEventName(event) ? event : '';
}
