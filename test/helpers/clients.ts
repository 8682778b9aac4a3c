import WebSocket from 'ws';
import { Conditions } from './wait.js';

// ── WebSocket (the `ws` package) ────────────────────────────────────────────────────────

/** A server → client frame as parsed JSON. */
export interface WsFrame {
  readonly type: string;
  readonly channel?: string;
  readonly id?: string;
  readonly data?: unknown;
  readonly code?: string;
  readonly reason?: string;
  readonly position?: string;
  readonly [key: string]: unknown;
}

export interface WsClose {
  readonly code: number;
  readonly reason: string;
}

/** A real `ws` client that records every frame; `raw` keeps the exact text of each. */
export class WsClient {
  readonly frames: WsFrame[] = [];
  readonly raw: string[] = [];
  closed: WsClose | null = null;
  private readonly conditions = new Conditions();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      const text = data.toString('utf8');
      this.raw.push(text);
      this.frames.push(isBinary ? { type: '<binary>' } : (JSON.parse(text) as WsFrame));
      this.wake();
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.wake();
    });
    socket.on('error', () => this.wake());
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      const client = new WsClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }

  send(frame: object | string | Buffer): void {
    this.socket.send(typeof frame === 'object' && !Buffer.isBuffer(frame) ? JSON.stringify(frame) : frame);
  }

  /** Frames of type `message`, optionally on one channel. */
  messages(channel?: string): WsFrame[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel));
  }

  /** Resolves once cond() holds (checked on every frame and on close). */
  until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    return this.conditions.until(cond, timeoutMs, what, () => `; frames: ${this.raw.slice(-5).join(' | ')}; closed: ${JSON.stringify(this.closed)}`);
  }

  /** The first frame at or after index `from` that matches; waits for it. */
  async next(match: (f: WsFrame) => boolean, from = 0, timeoutMs = 5000): Promise<WsFrame> {
    let found: WsFrame | undefined;
    await this.until(() => (found = this.frames.slice(from).find(match)) !== undefined, timeoutMs, 'a matching frame');
    return found!;
  }

  /** Sends `frame` and waits for the first reply of `type` after it. */
  async request(frame: object | string | Buffer, type: string | string[], timeoutMs = 5000): Promise<WsFrame> {
    const from = this.frames.length;
    const types = Array.isArray(type) ? type : [type];
    this.send(frame);
    return this.next((f) => types.includes(f.type), from, timeoutMs);
  }

  async subscribe(channel: string, extra: Record<string, unknown> = {}): Promise<WsFrame> {
    return this.request({ type: 'subscribe', channel, ...extra }, ['subscribed', 'error']);
  }

  waitForMessages(n: number, timeoutMs = 5000, channel?: string): Promise<void> {
    return this.until(() => this.messages(channel).length >= n, timeoutMs, `${n} messages`);
  }

  waitClosed(timeoutMs = 5000): Promise<WsClose> {
    return this.until(() => this.closed !== null, timeoutMs, 'close').then(() => this.closed!);
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
  }

  private wake(): void {
    this.conditions.notify();
  }
}

/** Opens `n` clients in batches of `batch` (bounded load on a shared machine). */
export async function openWsClients(url: string, n: number, batch = 200): Promise<WsClient[]> {
  const all: WsClient[] = [];
  for (let i = 0; i < n; i += batch) {
    const size = Math.min(batch, n - i);
    all.push(...(await Promise.all(Array.from({ length: size }, () => WsClient.open(url)))));
  }
  return all;
}

// ── Long-poll (fetch) ──────────────────────────────────────────────────────────────────

export interface PollBody {
  readonly messages: { readonly channel: string; readonly id: string; readonly data: unknown; readonly event?: string }[];
  readonly cursor: string;
  readonly reset?: { readonly channel: string; readonly reason: string }[];
}

export interface PollAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: PollBody;
  readonly text: string;
  readonly elapsedMs: number;
}

export interface PollOptions {
  readonly cursor?: string;
  readonly client?: string;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

export function pollUrl(base: string, channels: readonly string[], opts: PollOptions = {}): string {
  const q = new URLSearchParams();
  for (const c of channels) q.append('channel', c);
  if (opts.cursor !== undefined) q.set('cursor', opts.cursor);
  if (opts.client !== undefined) q.set('client', opts.client);
  return `${base}/poll?${q.toString()}`;
}

/** One GET /poll; the body is parsed when it is JSON. */
export async function poll(base: string, channels: readonly string[], opts: PollOptions = {}): Promise<PollAnswer> {
  const started = performance.now();
  const init: RequestInit = { headers: opts.headers ?? {} };
  if (opts.signal !== undefined) init.signal = opts.signal;
  const res = await fetch(pollUrl(base, channels, opts), init);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    body: JSON.parse(text) as PollBody,
    elapsedMs: performance.now() - started,
  };
}
