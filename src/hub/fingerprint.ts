import { createHash } from 'node:crypto';

/**
 * Window fingerprints: a message's name that every process subscribed to the channel on one
 * Redis computes alike, with no coordination.
 *
 *   channel key ─┐
 *   d(p[i-3]) ───┤
 *   d(p[i-2]) ───┼─► sha1 ─► first 48 bits ─► base64url (8 chars) = fp(i)
 *   d(p[i-1]) ───┤          d(p) = first 48 bits of sha1(payload), computed once per
 *   d(p[i])   ───┘          message whatever the number of client channels on it
 *
 * One Redis server delivers a channel's messages to every subscriber in the same order, so two
 * processes that both received the WINDOW messages ending at i compute the same fp(i). The
 * window's length is hashed too: a process that started covering the channel inside the
 * window names those first messages differently ("short" windows), and they never match a
 * full window elsewhere. Why a window rather than the payload alone: channels repeat payloads
 * ("refresh", counters that go back), and a repeat inside history is ambiguous (a reset); four
 * equal payloads in a row repeat far less often than one.
 *
 * Width: a false match needs a 48-bit collision between two messages in one process's history
 * (n messages: n²/2⁴⁹, 1.8e-3 at n = 10⁶), and even then it is detected as ambiguity — both
 * entries sit in the index — so a collision costs a reset, never a wrong replay (resume.ts).
 */

/** Messages hashed into one fingerprint: the message and the three before it. */
export const WINDOW = 4;

/** 48 bits: a safe integer, so a message keeps it as a plain number. */
export function payloadDigest(payload: Buffer): number {
  return createHash('sha1').update(payload).digest().readUIntBE(0, 6);
}

const scratch = Buffer.alloc(2 + 6 * WINDOW);

/** `window` holds the digests oldest first, the message's own last; length ≤ WINDOW. */
export function windowFingerprint(key: string, window: readonly number[]): string {
  scratch.writeUInt16BE(window.length, 0);
  for (let i = 0; i < window.length; i++) scratch.writeUIntBE(window[i]!, 2 + 6 * i, 6);
  const h = createHash('sha1').update(key).update(scratch.subarray(0, 2 + 6 * window.length));
  return h.digest().subarray(0, 6).toString('base64url');
}

/** Which stream a durable position belongs to: 24 bits of the Redis channel's hash. */
export function streamCheck(redisChannel: string): string {
  return createHash('sha1').update(redisChannel).digest().subarray(0, 3).toString('base64url');
}
