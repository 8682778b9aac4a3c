import type { HttpRequest } from 'uWebSockets.js';
import { HeraldError } from '../errors.js';

/**
 * Checks every request passes before its handler runs: framing Herald must not guess at, and
 * sizes past the configured limits. uWebSockets.js parses the request first and drops some
 * input on its own (docs/limits.md lists what it drops before Herald sees anything); these
 * are the cases it hands over.
 */
export interface ScreenLimits {
  readonly maxUrlBytes: number;
  readonly maxHeaderBytes: number;
}

/**
 * The request line and the headers some handler reads, each read from uWS once: the screen
 * measures these values and readRequest() builds its facts from the same strings, so a poll
 * cycle pays one native call per header instead of two (bench/issue-15.md, "one poll cycle").
 * Only headers a handler reads are here: reading every header (forEach) would cost a native
 * callback per header, and a header nobody reads harms nothing (uWS bounds the whole block).
 * The WebSocket upgrade reads two more; it measures them itself (screenHeader).
 */
export interface RequestHead {
  readonly url: string;
  /** Without the leading `?`; '' when there is none. */
  readonly query: string;
  readonly contentLength: string;
  readonly authorization: string;
  readonly apiKey: string;
  readonly lastEventId: string;
  readonly origin: string;
  readonly userAgent: string;
  /** The header named by `trustedIpHeader` ('' when that is ''). */
  readonly trustedIpHeader: string;
  readonly forwarded: string;
}

/** Reads the head; valid after the handler returns (plain strings), unlike the HttpRequest. */
export function readHead(req: HttpRequest, trustedIpHeader: string): RequestHead {
  return {
    url: req.getUrl(),
    query: req.getQuery() ?? '',
    contentLength: req.getHeader('content-length'),
    authorization: req.getHeader('authorization'),
    apiKey: req.getHeader('x-api-key'),
    lastEventId: req.getHeader('last-event-id'),
    origin: req.getHeader('origin'),
    userAgent: req.getHeader('user-agent'),
    trustedIpHeader,
    forwarded: trustedIpHeader === '' ? '' : req.getHeader(trustedIpHeader),
  };
}

/** Null when the request may proceed; otherwise the error to answer with (then close). */
export function screenRequest(req: HttpRequest, head: RequestHead, limits: ScreenLimits): HeraldError | null {
  // The first value is what uWS frames the body by. A second one (equal or not) means some
  // other hop may frame it differently: RFC 9112 §6.3 says refuse and close (request smuggling).
  if (head.contentLength !== '' && !isSingleLength(req, head.contentLength)) {
    return new HeraldError('content_length_invalid');
  }
  const urlBytes = head.url.length + head.query.length;
  if (urlBytes > limits.maxUrlBytes) {
    return new HeraldError('url_too_long', `at most ${limits.maxUrlBytes} bytes of path and query (limits.maxUrlBytes)`);
  }
  const max = limits.maxHeaderBytes;
  return (
    screenHeader('authorization', head.authorization, max) ??
    screenHeader('x-api-key', head.apiKey, max) ??
    screenHeader('last-event-id', head.lastEventId, max) ??
    screenHeader('origin', head.origin, max) ??
    screenHeader('user-agent', head.userAgent, max) ??
    (head.trustedIpHeader === '' ? null : screenHeader(head.trustedIpHeader, head.forwarded, max))
  );
}

/** Null when `value` fits limits.maxHeaderBytes, else the 431 refusal. */
export function screenHeader(name: string, value: string, max: number): HeraldError | null {
  if (value.length <= max) return null;
  return new HeraldError('header_too_large', `${name} is longer than ${max} bytes (limits.maxHeaderBytes)`);
}

function isSingleLength(req: HttpRequest, first: string): boolean {
  if (!/^\d{1,15}$/.test(first)) return false;
  let count = 0;
  req.forEach((key) => {
    if (key === 'content-length') count++;
  });
  return count === 1;
}
