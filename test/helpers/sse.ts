import { request, type IncomingHttpHeaders, type IncomingMessage, type ClientRequest } from 'node:http';
import { Conditions } from './wait.js';

/** A parsed text/event-stream event. */
export interface SseEvent {
  readonly id: string | null;
  readonly event: string;
  readonly data: string;
}

/**
 * A raw SSE client over node:http: exact framing visible (comments, retry, ids), the socket
 * can be paused to simulate a slow consumer. Parses per the WHATWG rules.
 */
export class RawSse {
  readonly events: SseEvent[] = [];
  /** Per event (same index): which read of the socket brought it, and when (performance.now()). */
  readonly arrivals: { readonly read: number; readonly atMs: number }[] = [];
  /** When the stream ended (performance.now()), or -1. */
  endedAtMs = -1;
  comments = 0;
  private reads = 0;
  retry: number | null = null;
  raw = '';
  ended = false;
  private buffer = '';
  private readonly conditions = new Conditions();

  private constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly res: IncomingMessage,
    readonly req: ClientRequest,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.reads++;
      this.raw += chunk;
      this.buffer += chunk;
      this.parse();
      this.notify();
    });
    const done = (): void => {
      if (!this.ended) this.endedAtMs = performance.now();
      this.ended = true;
      this.notify();
    };
    res.on('end', done);
    res.on('close', done);
    res.on('error', done);
  }

  /** Opens the stream and resolves once the status line and headers arrive. */
  static open(url: string, headers: Record<string, string> = {}): Promise<RawSse> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false });
      req.on('response', (res) => resolve(new RawSse(res.statusCode ?? 0, res.headers, res, req)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Reads the whole body of a non-200 answer. */
  async body(): Promise<string> {
    await this.until(() => this.ended, 5000, 'end of body');
    return this.raw;
  }

  messages(): SseEvent[] {
    return this.events.filter((e) => e.event === 'message');
  }

  until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    return this.conditions.until(cond, timeoutMs, what, () => `; got ${this.events.length} events (${this.events.slice(-5).map((e) => `${e.event}: ${e.data.slice(0, 80)}`).join(' | ')}), ended=${this.ended}`);
  }

  waitForMessages(n: number, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.messages().length >= n, timeoutMs, `${n} messages`);
  }

  close(): void {
    this.req.destroy();
  }

  private notify(): void {
    this.conditions.notify();
  }

  private parse(): void {
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(this.buffer);
      if (m === null) return;
      const block = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      let id: string | null = null;
      let event = 'message';
      const data: string[] = [];
      let hasField = false;
      for (const line of block.split(/\r\n|\r|\n/)) {
        if (line.startsWith(':')) {
          this.comments++;
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'retry') this.retry = Number(value);
        else continue;
        if (field !== 'retry') hasField = true;
      }
      if (!hasField) continue;
      this.events.push({ id, event, data: data.join('\n') });
      this.arrivals.push({ read: this.reads, atMs: performance.now() });
    }
  }
}
