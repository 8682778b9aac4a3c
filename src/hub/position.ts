/**
 * Stream positions that any Herald process on the same Redis can locate (docs/resume.md).
 *
 *   message id   "<fp>.<t>.<tag>.<seq>"    e.g. "Qm3x_a9Z.hx2k1p0.k3p9.2bq"
 *                  │     │     │     └─ the issuer's own sequence, base 36: exact there, whatever
 *                  │     │     │        the payloads (a channel repeating one payload makes its
 *                  │     │     │        fingerprints ambiguous; this never is)
 *                  │     │     └─ issuing process: 4 × [a-z0-9], random per start
 *                  │     └─ wall-clock receive time at the issuer, deciseconds, base 36
 *                  └─ 48-bit window fingerprint (fingerprint.ts), 8 × base64url
 *                  (ids issued before the seq part was added, "<fp>.<t>.<tag>", still parse:
 *                  every process then locates them by fingerprint)
 *   head         "~<seq>.<t>.<tag>"        no message anchors the stream's channels: the
 *                  │                       issuer's own sequence (exact there); `t` = issue time
 *                  └─ decimal, per process, strictly increasing across ALL channels
 *   durable      "<ms>-<n>:<epoch>:<ck>"   a durable channel's message: its Redis Stream id, the
 *                  │        │       └─ 4 × base64url of the Redis channel's hash (which stream)
 *                  │        └─ the stream's life (6 hex, new when a stream is lost and recreated)
 *                  └─ exact on every process, across Herald and Redis restarts
 *   legacy       "<epoch>:<seq>"           ids of Herald before issue 10: always a reset (epoch)
 *
 * Meaning: "the client holds every message on its channels up to this point of Redis's
 * delivery order". The issuer resolves its own ids exactly (tag match: its seq); another
 * process resolves a fingerprint through its own index, or falls back to time within
 * TOLERANCE_DS (hub/resume.ts). Pure: no clock, no I/O.
 */

export type Position =
  | { readonly kind: 'message'; readonly fp: string; readonly ds: number; readonly tag: string; readonly seq: number | null }
  | { readonly kind: 'head'; readonly seq: number; readonly ds: number; readonly tag: string }
  | { readonly kind: 'stream'; readonly text: string; readonly id: string; readonly ms: number; readonly epoch: string; readonly ck: string }
  | { readonly kind: 'legacy' }
  | { readonly kind: 'invalid' };

/** A client position that does not parse: every channel resets with reason `invalid`. */
export const INVALID_POSITION: Position = { kind: 'invalid' };

/**
 * The largest difference, in deciseconds, between two processes' receive times of one
 * message: clock skew between machines plus event-loop lag. Time only decides when a
 * fingerprint cannot (fallback for idle channels, and the proof that a single match is the
 * right occurrence); a wider tolerance only turns more edge cases into resets.
 */
export const TOLERANCE_DS = 20;

const STREAM_RE = /^(\d{1,15})-(\d{1,15}):([0-9a-f]{6}):([A-Za-z0-9_-]{4})$/;

export function formatStreamPosition(streamId: string, epoch: string, ck: string): string {
  return streamId + ':' + epoch + ':' + ck;
}

/** Redis Stream ids "<ms>-<seq>" in numeric order. */
export function compareStreamIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const am = Number(a.slice(0, da));
  const bm = Number(b.slice(0, db));
  return am !== bm ? am - bm : Number(a.slice(da + 1)) - Number(b.slice(db + 1));
}

/** The last decisecond formatted: every message received within it shares the text. */
let lastDs = -1;
let lastDs36 = '';

/**
 * Joined, not concatenated: `+` builds a chain of six string objects (~240 bytes) where
 * join() builds one (~44), and history keeps every id for the message's whole life.
 */
export function formatMessageId(fp: string, ds: number, tag: string, seq: number): string {
  if (ds !== lastDs) {
    lastDs = ds;
    lastDs36 = ds.toString(36);
  }
  return [fp, lastDs36, tag, seq.toString(36)].join('.');
}

export function formatHead(seq: number, ds: number, tag: string): string {
  return '~' + seq + '.' + ds.toString(36) + '.' + tag;
}

/**
 * The last text parsed and its position (positions are immutable): the pollers a fan-out
 * answered come back together with the same cursor, and a reconnect storm with one id.
 */
let lastText = '';
let lastPosition: Position = INVALID_POSITION;

/** Parses a client-supplied id; malformed text is `invalid`, never an exception. */
export function parsePosition(text: string): Position {
  if (text === lastText) return lastPosition;
  const position = parseFresh(text);
  lastText = text;
  lastPosition = position;
  return position;
}

function parseFresh(text: string): Position {
  // Durable ids are the ones with ':' (a plain id or head never has one).
  const durable = text.includes(':') ? STREAM_RE.exec(text) : null;
  if (durable !== null) {
    const [, ms, n, epoch, ck] = durable as unknown as [string, string, string, string, string];
    return { kind: 'stream', text, id: ms + '-' + n, ms: Number(ms), epoch, ck };
  }
  return parsePlain(text);
}

/**
 * Message ids and heads, scanned by hand: every poll carries one and most differ (one per
 * poller), and split() plus four regular expressions cost ~1–3 µs of a ~60 µs poll cycle.
 * Same grammar as the header above: anything else is invalid (legacy when it matches that form).
 */
function parsePlain(text: string): Position {
  const d1 = text.indexOf('.');
  const d2 = d1 < 0 ? -1 : text.indexOf('.', d1 + 1);
  if (d2 < 0) return LEGACY_RE.test(text) ? LEGACY_POSITION : INVALID_POSITION;
  const d3 = text.indexOf('.', d2 + 1);
  if (d3 >= 0 && text.indexOf('.', d3 + 1) >= 0) return INVALID_POSITION;
  const tagEnd = d3 < 0 ? text.length : d3;
  const ds = base36(text, d1 + 1, d2, 9);
  if (ds < 0 || tagEnd - d2 - 1 !== 4 || base36(text, d2 + 1, tagEnd, 4) < 0) return INVALID_POSITION;
  const tag = text.slice(d2 + 1, tagEnd);
  if (text.charCodeAt(0) === 0x7e /* ~ */) {
    const seq = d3 < 0 ? decimal(text, 1, d1, 15) : -1;
    return seq < 0 ? INVALID_POSITION : { kind: 'head', seq, ds, tag };
  }
  if (d1 !== 8 || !isFingerprint(text)) return INVALID_POSITION;
  if (d3 < 0) return { kind: 'message', fp: text.slice(0, 8), ds, tag, seq: null };
  const seq = base36(text, d3 + 1, text.length, 10);
  return seq < 0 ? INVALID_POSITION : { kind: 'message', fp: text.slice(0, 8), ds, tag, seq };
}

const LEGACY_RE = /^[a-z0-9]{1,32}:\d{1,15}$/;
const LEGACY_POSITION: Position = { kind: 'legacy' };

/** text[from, to) as base 36 ([0-9a-z], 1 to max digits), or -1. Exact: 36^10 < 2^53. */
function base36(text: string, from: number, to: number, max: number): number {
  if (to <= from || to - from > max) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x57 : -1;
    if (digit < 0) return -1;
    n = n * 36 + digit;
  }
  return n;
}

/** text[from, to) as decimal (1 to max digits), or -1. */
function decimal(text: string, from: number, to: number, max: number): number {
  if (to <= from || to - from > max) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

/** The first 8 characters are base64url ([A-Za-z0-9_-]). */
function isFingerprint(text: string): boolean {
  for (let i = 0; i < 8; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f;
    if (!ok) return false;
  }
  return true;
}

/** A process tag: random, so two processes (or two runs of one) almost never share one. */
export function newTag(random: () => number): string {
  return Math.floor(random() * 36 ** 4).toString(36).padStart(4, '0');
}

/** A new epoch (logged at start-up): time-based prefix plus randomness. */
export function newEpoch(nowMs: number, random: () => number): string {
  const rand = Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0');
  return nowMs.toString(36) + rand;
}

/** Wall-clock milliseconds → the deciseconds positions carry. */
export function toDs(wallMs: number): number {
  return Math.floor(wallMs / 100);
}
