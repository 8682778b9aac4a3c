/**
 * Window fingerprints: a message's name that every process subscribed to the channel on one
 * Redis computes alike, with no coordination.
 *
 *   h(channel key) ─┐
 *   d(p[i-3]) ──────┤
 *   d(p[i-2]) ──────┼─► mix ─► 48 bits ─► base64url (8 chars) = fp(i)
 *   d(p[i-1]) ──────┤          d(p) = 53-bit hash of the payload bytes, computed once per
 *   d(p[i])   ──────┘          message whatever the number of client channels on it
 *
 * One Redis server delivers a channel's messages to every subscriber in the same order, so two
 * processes that both received the WINDOW messages ending at i compute the same fp(i). The
 * window's length is mixed in too: a process that started covering the channel inside the
 * window names those first messages differently ("short" windows), and they never match a
 * full window elsewhere. Why a window rather than the payload alone: channels repeat payloads
 * ("refresh", counters that go back), and a repeat inside history is ambiguous (a reset); four
 * equal payloads in a row repeat far less often than one.
 *
 * Width: a false match needs a 48-bit collision between two messages in one process's history
 * (n messages: n²/2⁴⁹, 1.8e-3 at n = 10⁶), and even then it is detected as ambiguity — both
 * entries sit in the index — so a collision costs a reset, never a wrong replay (resume.ts).
 * That is also why a fast non-cryptographic hash is enough (a crafted collision can only cause
 * resets); sha1 through node:crypto measured about 10× the cost of decoding the payload.
 */

/** Messages hashed into one fingerprint: the message and the three before it. */
export const WINDOW = 4;

const TWO_32 = 4294967296;

/** 53 bits (cyrb53): a safe integer, so a message keeps it as a plain number. */
export function payloadDigest(payload: Buffer): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i]!;
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

/** The same hash over a string's UTF-16 units (channel keys, once per channel state). */
export function keyDigest(key: string): number {
  let h1 = 0xdeadbeef ^ key.length;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

const scratch = Buffer.alloc(6);

/** `window` holds the digests oldest first, the message's own last; length ≤ WINDOW. */
export function windowFingerprint(key: number, window: readonly number[]): string {
  let h1 = 0x9e3779b9 ^ window.length;
  let h2 = 0x85ebca6b ^ window.length;
  for (let i = -1; i < window.length; i++) {
    const d = i < 0 ? key : window[i]!;
    const lo = d >>> 0;
    const hi = Math.floor(d / TWO_32);
    h1 = Math.imul(h1 ^ lo, 2654435761);
    h2 = Math.imul(h2 ^ hi, 1597334677);
    h1 = Math.imul(h1 ^ hi, 2246822507);
    h2 = Math.imul(h2 ^ lo, 3266489909);
  }
  return base64url48(finish(h1, h2) % 2 ** 48);
}

/**
 * `d` (48 bits) as Buffer's base64url of its 6 bytes, big-endian: eight characters of six bits,
 * computed rather than looked up (writeUIntBE + toString was a native call per message, and a
 * table of character pairs missed the cache under load: bench/issue-15.md, seventh pass).
 */
export function base64url48(d: number): string {
  const hi = Math.floor(d / 16777216);
  const lo = d % 16777216;
  return String.fromCharCode(
    char64(hi >>> 18), char64((hi >>> 12) & 63), char64((hi >>> 6) & 63), char64(hi & 63),
    char64(lo >>> 18), char64((lo >>> 12) & 63), char64((lo >>> 6) & 63), char64(lo & 63),
  );
}

/** The base64url alphabet: A–Z, a–z, 0–9, '-', '_'. */
function char64(v: number): number {
  if (v < 26) return 65 + v;
  if (v < 52) return 71 + v;
  if (v < 62) return v - 4;
  return v === 62 ? 45 : 95;
}

/** Which stream a durable position belongs to: 24 bits of the Redis channel's hash. */
export function streamCheck(redisChannel: string): string {
  scratch.writeUIntBE(keyDigest(redisChannel) % 2 ** 24, 0, 3);
  return scratch.subarray(0, 3).toString('base64url');
}

function finish(a: number, b: number): number {
  let h1 = a;
  let h2 = b;
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return TWO_32 * (2097151 & h2) + (h1 >>> 0);
}
