/**
 * Splits a subscriber link's bytes into whole RESP2 replies, in order: each `message` (or, on
 * a shard link, `smessage`) push goes straight to `onPush(channel, payload)`, and every other
 * reply (SUBSCRIBE acknowledgements, errors, AUTH and CLIENT answers) is handed whole to
 * ioredis' own parser, so ioredis still owns commands, subscriber mode and errors.
 *
 * Why: on a subscriber link nearly every reply is a push, and ioredis' path for one (the
 * parser builds three Buffers and an array, then DataHandler turns the first into a string,
 * copies the listener list and emits twice) cost about 3 µs per incoming message, which every
 * delivery pays where channels have one or a few subscribers (bench/issue-15.md).
 *
 * Safe by construction:
 * - ioredis only ever receives whole replies, so its parser never holds half of one that
 *   this reader has taken.
 * - A push is taken only while ioredis says the link is in subscriber mode (`isSubscriber`,
 *   read after every reply handed on before it), exactly when ioredis would have emitted it
 *   itself; otherwise the reply goes to ioredis as before.
 * - A reply this reader cannot frame (a type RESP2 does not have) switches the link to
 *   ioredis alone for the rest of its life: the same bytes, the same outcome as without it.
 * - A cut-off reply is held, and is only joined once the bytes it needs have come, so a large
 *   payload arriving in many chunks is copied once, not once per chunk.
 * - `borrowed` chunks (a socket reading into its own buffer: redis-direct-read.ts) are valid only
 *   during feed(): what is held past it, and every reply handed to ioredis (whose parser keeps
 *   views of what it parses), is copied first; a push's payload is lent to `onPush`, which
 *   must not keep it (BrokerHandler.onMessage).
 */

export type PushKind = 'message' | 'smessage';

/** The reply cannot be framed yet: more bytes are needed (see `need`). */
const INCOMPLETE = -1;
/** Not a RESP2 reply this reader knows: hand everything to ioredis from here on. */
const UNREADABLE = -2;
/** Not a push of this link's kind (it may still be any other reply). */
const NOT_PUSH = -3;

const CR = 13;
const LF = 10;

const PREFIXES: Readonly<Record<PushKind, Uint8Array>> = {
  message: Buffer.from('*3\r\n$7\r\nmessage\r\n$', 'latin1'),
  smessage: Buffer.from('*3\r\n$8\r\nsmessage\r\n$', 'latin1'),
};

export class PushReader {
  readonly #prefix: Uint8Array;
  readonly #onPush: (channel: string, payload: Buffer) => void;
  readonly #passOn: (replies: Buffer) => void;
  readonly #isSubscriber: () => boolean;
  readonly #borrowed: boolean;
  /** The start of a cut-off reply and what came after it, until `#need` bytes are here. */
  #held: Buffer[] | null = null;
  #heldBytes = 0;
  /** The fewest bytes (from the held reply's start) that could complete it. */
  #need = 0;
  #isBroken = false;
  /** The last push framed by #scanPush: its channel and payload bounds. */
  #channelStart = 0;
  #channelEnd = 0;
  #payloadStart = 0;
  #payloadEnd = 0;

  constructor(kind: PushKind, onPush: (channel: string, payload: Buffer) => void, passOn: (replies: Buffer) => void, isSubscriber: () => boolean, borrowed = false) {
    this.#prefix = PREFIXES[kind];
    this.#onPush = onPush;
    this.#passOn = passOn;
    this.#isSubscriber = isSubscriber;
    this.#borrowed = borrowed;
  }

  feed(chunk: Buffer): void {
    /** What makes a part of `buf` outlive this call: a copy while `buf` is a borrowed chunk. */
    let keep = this.#borrowed ? copyView : keepView;
    if (this.#isBroken) return this.#passOn(keep(chunk));
    let buf = chunk;
    if (this.#held !== null) {
      this.#heldBytes += chunk.length;
      if (this.#heldBytes < this.#need) {
        this.#held.push(keep(chunk));
        return;
      }
      this.#held.push(chunk);
      buf = Buffer.concat(this.#held, this.#heldBytes);
      this.#held = null;
      keep = keepView;
    }
    const end = buf.length;
    let pos = 0;
    /** Where the run of replies not yet handed to ioredis began (-1: none). */
    let runStart = -1;
    while (pos < end) {
      const afterPush = this.#scanPush(buf, pos);
      if (afterPush === NOT_PUSH) {
        const after = this.#frameEnd(buf, pos, pos);
        if (after === INCOMPLETE) break;
        if (after === UNREADABLE) {
          this.#isBroken = true;
          return this.#passOn(keep(buf.subarray(runStart < 0 ? pos : runStart)));
        }
        if (runStart < 0) runStart = pos;
        pos = after;
        continue;
      }
      // The replies before this push first: one of them may be what changes subscriber mode.
      if (runStart >= 0) {
        this.#passOn(keep(buf.subarray(runStart, pos)));
        runStart = -1;
      }
      if (this.#isSubscriber()) this.#onPush(buf.toString('utf8', this.#channelStart, this.#channelEnd), buf.subarray(this.#payloadStart, this.#payloadEnd));
      else this.#passOn(keep(buf.subarray(pos, afterPush)));
      pos = afterPush;
    }
    if (runStart >= 0) this.#passOn(keep(buf.subarray(runStart, pos)));
    if (pos < end) {
      this.#held = [keep(buf.subarray(pos))];
      this.#heldBytes = end - pos;
    }
  }

  /** The end of a whole push of this link's kind at `pos` (bounds in the #channel/#payload fields), else NOT_PUSH. */
  #scanPush(buf: Buffer, pos: number): number {
    const prefix = this.#prefix;
    const n = prefix.length;
    if (buf.length - pos < n) return NOT_PUSH;
    for (let i = 0; i < n; i++) if (buf[pos + i] !== prefix[i]) return NOT_PUSH;
    const channelStart = afterLength(buf, pos + n);
    if (channelStart < 0) return NOT_PUSH;
    const channelEnd = channelStart + lengthRead;
    if (channelEnd + 3 > buf.length || buf[channelEnd] !== CR || buf[channelEnd + 1] !== LF || buf[channelEnd + 2] !== 0x24 /* $ */) return NOT_PUSH;
    const payloadStart = afterLength(buf, channelEnd + 3);
    if (payloadStart < 0) return NOT_PUSH;
    const payloadEnd = payloadStart + lengthRead;
    if (payloadEnd + 2 > buf.length || buf[payloadEnd] !== CR || buf[payloadEnd + 1] !== LF) return NOT_PUSH;
    this.#channelStart = channelStart;
    this.#channelEnd = channelEnd;
    this.#payloadStart = payloadStart;
    this.#payloadEnd = payloadEnd;
    return payloadEnd + 2;
  }

  /**
   * The end of the whole reply at `pos`, INCOMPLETE (setting #need, counted from `start`, the
   * outermost reply's first byte) or UNREADABLE.
   */
  #frameEnd(buf: Buffer, pos: number, start: number): number {
    const type = buf[pos];
    const lineEnd = crlfAt(buf, pos + 1);
    if (lineEnd < 0) {
      this.#need = buf.length - start + 1;
      return INCOMPLETE;
    }
    switch (type) {
      case 0x2b: // + simple string
      case 0x2d: // - error
      case 0x3a: // : integer
        return lineEnd + 2;
      case 0x24: { // $ bulk string
        const length = decimal(buf, pos + 1, lineEnd);
        if (length === BAD_NUMBER) return UNREADABLE;
        if (length < 0) return lineEnd + 2;
        const after = lineEnd + 2 + length + 2;
        if (after > buf.length) {
          this.#need = after - start;
          return INCOMPLETE;
        }
        return after;
      }
      case 0x2a: { // * array
        const count = decimal(buf, pos + 1, lineEnd);
        if (count === BAD_NUMBER) return UNREADABLE;
        let at = lineEnd + 2;
        for (let i = 0; i < count; i++) {
          if (at >= buf.length) {
            this.#need = at - start + 1;
            return INCOMPLETE;
          }
          at = this.#frameEnd(buf, at, start);
          if (at < 0) return at;
        }
        return at;
      }
      default:
        return UNREADABLE;
    }
  }
}

const keepView = (view: Buffer): Buffer => view;
const copyView = (view: Buffer): Buffer => Buffer.from(view);

const BAD_NUMBER = -0x7fffffff;
/** The length afterLength() read (a module slot: no object per call on the hot path). */
let lengthRead = 0;

/** For `<digits>\r\n` at `pos`: the index after the CRLF, the value in `lengthRead`; -1 if not a complete non-negative length. */
function afterLength(buf: Buffer, pos: number): number {
  let value = 0;
  let i = pos;
  const limit = Math.min(buf.length, pos + 12);
  for (; i < limit; i++) {
    const c = buf[i]!;
    if (c === CR) break;
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  if (i === pos || i + 1 >= buf.length || buf[i] !== CR || buf[i + 1] !== LF) return -1;
  lengthRead = value;
  return i + 2;
}

/** The index of the CR of the first CRLF at or after `pos`, -1 if none yet. */
function crlfAt(buf: Buffer, pos: number): number {
  const cr = buf.indexOf(CR, pos);
  if (cr < 0 || cr + 1 >= buf.length) return -1;
  return buf[cr + 1] === LF ? cr : crlfAt(buf, cr + 1);
}

/** A RESP length line's value (`-1` allowed), BAD_NUMBER if it is not one. */
function decimal(buf: Buffer, from: number, to: number): number {
  let i = from;
  const negative = buf[i] === 0x2d;
  if (negative) i++;
  if (i === to || to - i > 15) return BAD_NUMBER;
  let value = 0;
  for (; i < to; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return BAD_NUMBER;
    value = value * 10 + (c - 0x30);
  }
  return negative ? -value : value;
}
