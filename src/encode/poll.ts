/**
 * Long-poll body elements and bodies. Pure.
 * An element is `{"channel":"…","id":"…","data":<json>}` plus `"event":"…"` when the payload
 * named one; it is built once per message and reused by every poll answer (and by the WS
 * envelope, which is the same object with a `type`).
 */

import { jsonString, jsonStringBody } from './json-string.js';

/**
 * `data` is JSON text when `dataIsJson` (the raw payload of a `json` channel), else a text
 * payload, embedded as a JSON string. Joined, not concatenated: one flat string, which every
 * answer and WS frame that embeds it copies as is (a chain of `+` is walked again by each of
 * them); the quotes of the channel and of a text payload are joined in too, where a quoted copy
 * of each was two cons strings of garbage per message.
 */
export function encodePollElement(channel: string, id: string, event: string, data: string, dataIsJson: boolean): string {
  const eventField = event === '' ? '' : ',"event":' + jsonString(event);
  const quote = dataIsJson ? '' : '"';
  return ['{"channel":"', jsonStringBody(channel), '","id":"', id, '"', eventField, ',"data":', quote, dataIsJson ? data : jsonStringBody(data), quote, '}'].join('');
}

export interface PollReset {
  readonly channel: string;
  readonly reason: string;
}

/**
 * Joined too: a body built with `+` was a chain of cons strings that uWS flattened into a copy
 * when it wrote the answer (an allocation of the whole body, made by `end()`, on top of the
 * chain), ~130 bytes per poll cycle more than this (issue 15, tenth pass).
 */
export function encodePollBody(elements: readonly string[], cursor: string, resets: readonly PollReset[]): string {
  const list = elements.length === 1 ? elements[0]! : elements.join(',');
  const reset = resets.length > 0 ? ',"reset":' + JSON.stringify(resets) : '';
  return ['{"messages":[', list, '],"cursor":"', jsonStringBody(cursor), '"', reset, '}'].join('');
}
