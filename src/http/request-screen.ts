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
 * The headers some handler reads. Only these are measured: reading every header (forEach)
 * would cost each poll cycle a native callback per header, and a header nobody reads harms
 * nothing (uWS already bounds the whole header block).
 */
const READ_HEADERS = [
  'authorization',
  'x-api-key',
  'last-event-id',
  'origin',
  'user-agent',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
] as const;

/** Null when the request may proceed; otherwise the error to answer with (then close). */
export function screenRequest(req: HttpRequest, limits: ScreenLimits, trustedIpHeader: string): HeraldError | null {
  // The first value is what uWS frames the body by. A second one (equal or not) means some
  // other hop may frame it differently: RFC 9112 §6.3 says refuse and close (request smuggling).
  const contentLength = req.getHeader('content-length');
  if (contentLength !== '' && !isSingleLength(req, contentLength)) {
    return new HeraldError('content_length_invalid');
  }
  const urlBytes = req.getUrl().length + (req.getQuery()?.length ?? 0);
  if (urlBytes > limits.maxUrlBytes) {
    return new HeraldError('url_too_long', `at most ${limits.maxUrlBytes} bytes of path and query (limits.maxUrlBytes)`);
  }
  const max = limits.maxHeaderBytes;
  for (const name of READ_HEADERS) {
    if (req.getHeader(name).length > max) return headerTooLarge(name, max);
  }
  if (trustedIpHeader !== '' && req.getHeader(trustedIpHeader).length > max) return headerTooLarge(trustedIpHeader, max);
  return null;
}

function headerTooLarge(name: string, max: number): HeraldError {
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
