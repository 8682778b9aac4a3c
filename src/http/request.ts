import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { QueryParams } from './query.js';
import { readHead, type RequestHead } from './request-screen.js';

/**
 * Everything Herald reads from a uWS HttpRequest, copied synchronously at the top of a
 * handler: the HttpRequest is invalid after the handler returns or awaits.
 */
export interface RequestFacts {
  readonly query: QueryParams;
  /** The client's address ('' when the caller did not need the peer's: see readRequest). */
  readonly ip: string;
  readonly origin: string;
  readonly userAgent: string;
  readonly authorization: string;
  readonly lastEventId: string;
}

const decoder = new TextDecoder();

/**
 * `head` is what the server's screen already read for this request (server.ts passes it to
 * the handler); without it (an unscreened server, or a trusted header changed by a reload
 * in between) the head is read here. Every header read is a native call, and this runs once
 * per request, poll cycles included.
 *
 * `needsPeer` false: without a trusted header, `ip` stays '' rather than asking the socket
 * (a getpeername(2) system call per request, ~3 µs of a poll cycle or a connect in the
 * churn profile). Subscribe endpoints need the address only for limits.maxConnectionsPerIp.
 */
export function readRequest(res: HttpResponse, req: HttpRequest, trustedIpHeader: string, head?: RequestHead, needsPeer = true): RequestFacts {
  const h = head !== undefined && head.trustedIpHeader === trustedIpHeader ? head : readHead(req, trustedIpHeader);
  let ip = '';
  // The right-most entry is the one our trusted proxy appended; anything left of it came
  // from the client (nginx $proxy_add_x_forwarded_for keeps a client-sent header).
  if (h.forwarded !== '') ip = h.forwarded.slice(h.forwarded.lastIndexOf(',') + 1).trim();
  if (ip === '' && needsPeer) ip = decoder.decode(res.getRemoteAddressAsText());
  return {
    query: new QueryParams(h.query),
    ip,
    origin: h.origin,
    userAgent: h.userAgent,
    authorization: h.authorization,
    lastEventId: h.lastEventId,
  };
}

export function isLoopback(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip.startsWith('127.') || ip === '0000:0000:0000:0000:0000:0000:0000:0001' || ip.startsWith('::ffff:127.');
}

/**
 * Reads a request body up to `limit` bytes. Resolves null when the limit is passed (the
 * caller answers 413); rejects never. The caller must have attached onAborted already and
 * checks its own abort flag before answering.
 */
export function readBody(res: HttpResponse, limit: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    res.onData((chunk, isLast) => {
      if (!over) {
        size += chunk.byteLength;
        if (size > limit) over = true;
        // uWS neuters the ArrayBuffer after this callback: copy it.
        else chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      }
      if (isLast) resolve(over ? null : Buffer.concat(chunks, size));
    });
  });
}
