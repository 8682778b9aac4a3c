import { connect } from 'node:net';

export interface RawReply {
  /** Everything the server sent, latin1. */
  readonly text: string;
  /** How the exchange ended: the server closed, reset, or we gave up waiting. */
  readonly end: 'closed' | 'reset' | 'timeout';
  readonly ms: number;
}

/**
 * Sends raw bytes on a fresh TCP connection and reports what came back and how the socket
 * ended: for requests no HTTP client library would send (duplicate headers, HTTP/1.0, huge
 * header blocks). `bytes` may be several parts, written 50 ms apart.
 */
export function rawExchange(port: number, bytes: string | Buffer | readonly string[], timeoutMs = 2000): Promise<RawReply> {
  return new Promise((resolve) => {
    const started = Date.now();
    // Several parts are written 50 ms apart, so the server reads them separately.
    const parts = typeof bytes === 'string' || Buffer.isBuffer(bytes) ? [bytes] : bytes;
    const s = connect(port, '127.0.0.1', () => {
      parts.forEach((part, i) => setTimeout(() => s.writable && s.write(part), i * 50));
    });
    let text = '';
    let settled = false;
    const done = (end: RawReply['end']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, end, ms: Date.now() - started });
    };
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('close', () => done('closed'));
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNRESET' ? 'reset' : 'closed'));
    const timer = setTimeout(() => done('timeout'), timeoutMs);
  });
}

/** Attempts before a refusal's answer counts as lost for good (the race, not the server). */
export const REFUSAL_TRIES = 40;

/**
 * rawExchange for a request Herald refuses and closes (414, 431): Herald answers and closes at
 * once, and when the tail of a large request is still in flight the peer's kernel may answer
 * it with a TCP reset, which discards the answer already received (the lingering-close race of
 * RFC 9112 §9.6, which uWebSockets.js does not implement; docs/limits.md). Retries such an
 * empty reset up to `tries` times so the test checks the answer, not the race (on a loaded
 * machine, ten losses in a row have been seen: each attempt takes ~2 ms).
 */
export async function refusalExchange(port: number, bytes: string | Buffer | readonly string[], tries = REFUSAL_TRIES): Promise<RawReply> {
  let reply = await rawExchange(port, bytes);
  // Nothing at all came back and the connection ended: the race (seen as ECONNRESET, or as
  // EPIPE on our own write of the request's tail), not an answer. A timeout is not retried.
  for (let i = 1; i < tries && reply.text === '' && reply.end !== 'timeout'; i++) reply = await rawExchange(port, bytes);
  return reply;
}

/** The status code of the first response in `text`, or 0 when there is none. */
export function statusOf(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** The body of the first response (assumes Content-Length framing). */
export function bodyOf(text: string): string {
  const head = text.indexOf('\r\n\r\n');
  if (head < 0) return '';
  const m = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, head));
  const body = text.slice(head + 4);
  return m === null ? body : body.slice(0, Number(m[1]));
}
