/**
 * Long-poll body elements and bodies. Pure.
 * An element is `{"channel":"…","id":"…","data":<json>}` plus `"event":"…"` when the payload
 * named one; it is built once per message and reused by every poll answer (and by the WS
 * envelope, which is the same object with a `type`).
 */

import { jsonString } from './json-string.js';

export function encodePollElement(channel: string, id: string, event: string, dataJson: string): string {
  // Joined, not concatenated: one flat string, which every answer and WS frame that embeds it
  // copies as is (a chain of `+` is walked again by each of them).
  const eventField = event === '' ? '' : ',"event":' + jsonString(event);
  return ['{"channel":', jsonString(channel), ',"id":"', id, '"', eventField, ',"data":', dataJson, '}'].join('');
}

export interface PollReset {
  readonly channel: string;
  readonly reason: string;
}

export function encodePollBody(elements: readonly string[], cursor: string, resets: readonly PollReset[]): string {
  let out = '{"messages":[' + elements.join(',') + '],"cursor":' + jsonString(cursor);
  if (resets.length > 0) out += ',"reset":' + JSON.stringify(resets);
  return out + '}';
}
