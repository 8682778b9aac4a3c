import type { PreparedMessage } from '../../hub/message.js';
import { INVALID_POSITION, parsePosition, type Position } from '../../hub/position.js';

/**
 * Where a client asks to resume from (SSE Last-Event-ID, WS `since`, poll cursor). The
 * transports never parse ids themselves: this file is their one door to the id format.
 */
export type Since = Position | null;

/**
 * '' → null (start live); any other text → its position. A malformed id parses to
 * INVALID_POSITION, which still opens the connection: every channel then gets a reset with
 * reason `invalid`, and the client refetches.
 */
export function resumeFrom(text: string): Since {
  if (text === '') return null;
  return parsePosition(text);
}

/** Whether `text` is a well-formed id (from any process): a poll keeps such a cursor. */
export function isWellFormed(text: string): boolean {
  return text !== '' && parsePosition(text) !== INVALID_POSITION;
}

/** Whether `since` came from a well-formed id (not none, not malformed). */
export function isPosition(since: Since): since is Position {
  return since !== null && since !== INVALID_POSITION;
}

/**
 * Sorts in place, oldest first, in the order positions were issued: how transports merge
 * several channels. One channel's replay and then its live messages arrive in order already,
 * and checking costs less than a sort with a comparator call per pair (a hot-poll answer
 * carries ~50).
 */
export function sortByPosition(messages: PreparedMessage[]): PreparedMessage[] {
  for (let i = 1; i < messages.length; i++) {
    if (messages[i - 1]!.seq > messages[i]!.seq) return messages.sort(byPosition);
  }
  return messages;
}

function byPosition(a: PreparedMessage, b: PreparedMessage): number {
  return a.seq - b.seq;
}
