import { encodePollElement } from '../encode/poll.js';
import { encodeSseEvent } from '../encode/sse.js';
import { encodeWsMessage } from '../encode/ws.js';
import { toDs } from './position.js';

/**
 * One message on one client channel, with its bytes per transport built lazily, once per
 * turn: the first subscriber of each transport pays, every other subscriber in the same fan-out
 * reuses the same buffer.
 *
 * The encodings are a cache for the turn that builds them (and the next one), not part of
 * the message: history keeps every message for its whole life (100 per channel by default),
 * and a message that keeps its encodings is ~1 KB the young-generation collector copies twice
 * and promotes. Kept encodings made one-subscriber fan-outs pay ~3 µs of scavenging per
 * message and 15–25 ms scavenge pauses (the p99 tail); released, a replay re-encodes a
 * message once per turn for all its readers.
 */
const DOT = 0x2e;
/** Deciseconds at start-up: a message keeps its receive time as an offset from it. */
const DS_BASE = toDs(Date.now());

/** A message's encodings for the turn that built them (PreparedMessage.release drops them). */
class Encodings {
  sse: Buffer | null = null;
  poll: string | null = null;
  ws: string | null = null;
  ndjson: Buffer | null = null;
}

export class PreparedMessage {
  /**
   * One field for all the encodings, null between turns: a kept message is 12 fields, not 17
   * (history holds 100 per channel, and every kept message is copied twice by the scavenger).
   */
  private enc: Encodings | null = null;
  /** Whole monotonic ms, a small integer kept in the object (a fraction would box a heap number). */
  readonly receivedAtMs: number;
  /** `ds` less DS_BASE: a small integer in the object, where the full value would box a heap number. */
  private readonly dsOffset: number;
  /** The fingerprint when it is not the id's first part (durable ids, tests); null: it is. */
  private readonly ownFp: string | null;

  /**
   * @param isJson the payload is JSON already (a `json` channel, validated at ingress): it is
   *   embedded raw; a `text` payload is JSON-encoded once per turn, and only if a WS, NDJSON or
   *   poll subscriber needs it.
   * @param receivedAtMs monotonic ms at broker ingress (history age, latency sampling).
   * @param fp window fingerprint (fingerprint.ts): how another process finds this message.
   * @param ds wall-clock receive time, deciseconds (position.ts).
   * @param windowLength messages in the fp's window: WINDOW, less for the first ones after coverage starts.
   */
  constructor(
    readonly channel: string,
    readonly seq: number,
    readonly id: string,
    readonly payload: string,
    private readonly isJson: boolean,
    readonly event: string,
    receivedAtMs: number,
    fp: string,
    ds: number,
    readonly windowLength: number,
    /** 48-bit payload digest (fingerprint.ts): lets history compare windows without payloads. */
    readonly digest: number,
  ) {
    this.receivedAtMs = Math.floor(receivedAtMs);
    this.dsOffset = ds - DS_BASE;
    // Ids are `<fp>.<t>.<tag>.<seq>` (position.ts): a kept message need not hold its fp twice.
    this.ownFp = fp.indexOf('.') === -1 && id.length > fp.length && id.charCodeAt(fp.length) === DOT && id.startsWith(fp) ? null : fp;
  }

  /** Window fingerprint (fingerprint.ts): how another process finds this message. Read by history's lazy index only. */
  get fp(): string {
    return this.ownFp ?? this.id.slice(0, this.id.indexOf('.'));
  }

  /** Wall-clock receive time, deciseconds (position.ts). */
  get ds(): number {
    return DS_BASE + this.dsOffset;
  }

  get sse(): Buffer {
    const enc = this.encodings();
    return (enc.sse ??= Buffer.from(encodeSseEvent(this.id, this.event, this.payload)));
  }

  /** The poll body element (also the WebSocket envelope minus its `type`). */
  get poll(): string {
    const enc = this.encodings();
    return (enc.poll ??= encodePollElement(this.channel, this.id, this.event, this.payload, this.isJson));
  }

  get ws(): string {
    const enc = this.encodings();
    return (enc.ws ??= encodeWsMessage(this.poll));
  }

  /** One NDJSON line: the WebSocket envelope plus a newline. */
  get ndjson(): Buffer {
    const enc = this.encodings();
    return (enc.ndjson ??= Buffer.from(this.ws + '\n'));
  }

  get byteLength(): number {
    return Buffer.byteLength(this.payload);
  }

  /** Drops the cached encodings (turnCache below); the next reader rebuilds them. */
  release(): void {
    this.enc = null;
  }

  private encodings(): Encodings {
    let enc = this.enc;
    if (enc === null) {
      enc = this.enc = new Encodings();
      turnCache.add(this);
    }
    return enc;
  }
}

/**
 * Releases encodings two check phases after they were built. Two, not one: a poll answer
 * reads its messages in a FlushQueue pass that may run after this in the same check phase,
 * and the fan-out that built them must not pay for them twice.
 */
class TurnCache {
  private current: PreparedMessage[] = [];
  private previous: PreparedMessage[] = [];
  private scheduled = false;

  add(message: PreparedMessage): void {
    this.current.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const old = this.previous;
    for (let i = 0; i < old.length; i++) old[i]!.release();
    this.previous = this.current;
    this.current = old;
    old.length = 0;
    if (this.previous.length > 0) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  };
}

const turnCache = new TurnCache();
