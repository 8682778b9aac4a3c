import { encodePollElement } from '../encode/poll.js';
import { encodeSseEvent } from '../encode/sse.js';
import { encodeWsMessage } from '../encode/ws.js';

/**
 * One message on one client channel, with its bytes per transport built lazily, once: the
 * first subscriber of each transport pays, every other subscriber reuses the same buffer.
 */
export class PreparedMessage {
  private sseBytes: Buffer | null = null;
  private pollText: string | null = null;
  private wsText: string | null = null;
  private ndjsonBytes: Buffer | null = null;

  private dataJsonText: string | null;

  /**
   * @param isJson the payload is JSON already (a `json` channel, validated at ingress): it is
   *   embedded raw; a `text` payload is JSON-encoded once, and only if a WS, NDJSON or poll
   *   subscriber needs it.
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
    isJson: boolean,
    readonly event: string,
    readonly receivedAtMs: number,
    readonly fp: string,
    readonly ds: number,
    readonly windowLength: number,
    /** 48-bit payload digest (fingerprint.ts): lets history compare windows without payloads. */
    readonly digest: number,
  ) {
    this.dataJsonText = isJson ? payload : null;
  }

  /** The payload as JSON text, as WS, NDJSON and poll envelopes embed it. */
  get dataJson(): string {
    return (this.dataJsonText ??= JSON.stringify(this.payload));
  }

  get sse(): Buffer {
    return (this.sseBytes ??= Buffer.from(encodeSseEvent(this.id, this.event, this.payload)));
  }

  /** The poll body element (also the WebSocket envelope minus its `type`). */
  get poll(): string {
    return (this.pollText ??= encodePollElement(this.channel, this.id, this.event, this.dataJson));
  }

  get ws(): string {
    return (this.wsText ??= encodeWsMessage(this.poll));
  }

  /** One NDJSON line: the WebSocket envelope plus a newline. */
  get ndjson(): Buffer {
    return (this.ndjsonBytes ??= Buffer.from(this.ws + '\n'));
  }

  get byteLength(): number {
    return Buffer.byteLength(this.payload);
  }
}
