import type { PreparedMessage } from '../../hub/message.js';
import { parsePosition, type Position } from '../../hub/position.js';

/**
 * Where a client asks to resume from (SSE Last-Event-ID, WS `since`, poll cursor). The
 * transports never parse ids themselves: this file is their one door to the id format.
 */
export type Since = Position | null;

/**
 * A malformed id still opens the connection: every channel then gets a reset with reason
 * `invalid` (the hub answers a negative seq so), and the client refetches.
 */
const MALFORMED: Position = Object.freeze({ epoch: '', seq: -1 });

/** '' → null (start live); a well-formed id → its position; anything else → MALFORMED. */
export function resumeFrom(text: string): Since {
  if (text === '') return null;
  return parsePosition(text) ?? MALFORMED;
}

/** Whether `text` is a well-formed id (from any process): a poll keeps such a cursor. */
export function isWellFormed(text: string): boolean {
  return parsePosition(text) !== null;
}

/** Whether `since` came from a well-formed id (not none, not malformed). */
export function isPosition(since: Since): since is Position {
  return since !== null && since !== MALFORMED;
}

/** Oldest first, in the order positions were issued: how transports merge several channels. */
export function byPosition(a: PreparedMessage, b: PreparedMessage): number {
  return a.seq - b.seq;
}
