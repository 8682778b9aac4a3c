import { encodePollElement } from '../encode/poll.js';
import { encodeSseEvent } from '../encode/sse.js';
import { encodeWsMessage } from '../encode/ws.js';

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
export class PreparedMessage {
  private sseBytes: Buffer | null = null;
  private pollText: string | null = null;
  private wsText: string | null = null;
  private ndjsonBytes: Buffer | null = null;
  private dataJsonText: string | null = null;
  private cached = false;

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
    readonly receivedAtMs: number,
    readonly fp: string,
    readonly ds: number,
    readonly windowLength: number,
    /** 48-bit payload digest (fingerprint.ts): lets history compare windows without payloads. */
    readonly digest: number,
  ) {}

  /** The payload as JSON text, as WS, NDJSON and poll envelopes embed it. */
  get dataJson(): string {
    if (this.isJson) return this.payload;
    return (this.dataJsonText ??= this.remember(JSON.stringify(this.payload)));
  }

  get sse(): Buffer {
    return (this.sseBytes ??= this.remember(Buffer.from(encodeSseEvent(this.id, this.event, this.payload))));
  }

  /** The poll body element (also the WebSocket envelope minus its `type`). */
  get poll(): string {
    return (this.pollText ??= this.remember(encodePollElement(this.channel, this.id, this.event, this.dataJson)));
  }

  get ws(): string {
    return (this.wsText ??= this.remember(encodeWsMessage(this.poll)));
  }

  /** One NDJSON line: the WebSocket envelope plus a newline. */
  get ndjson(): Buffer {
    return (this.ndjsonBytes ??= this.remember(Buffer.from(this.ws + '\n')));
  }

  get byteLength(): number {
    return Buffer.byteLength(this.payload);
  }

  /** Drops the cached encodings (turnCache below); the next reader rebuilds them. */
  release(): void {
    this.cached = false;
    this.sseBytes = null;
    this.pollText = null;
    this.wsText = null;
    this.ndjsonBytes = null;
    this.dataJsonText = null;
  }

  private remember<T>(encoding: T): T {
    if (!this.cached) {
      this.cached = true;
      turnCache.add(this);
    }
    return encoding;
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
