import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { CorsConfig } from '../config/types.js';

/**
 * CORS decisions. An empty origin list means no CORS headers at all (same-origin only); `*`
 * allows any origin (echoed back, so credentials can work when enabled).
 */
export class CorsPolicy {
  private readonly any: boolean;
  private readonly allowed: ReadonlySet<string>;

  constructor(private readonly config: CorsConfig) {
    this.any = config.origins.includes('*');
    this.allowed = new Set(config.origins.filter((o) => o !== '*'));
  }

  isAllowed(origin: string): boolean {
    return origin !== '' && (this.any || this.allowed.has(origin));
  }

  /** Whether a request from `origin` may subscribe (no list: any; non-browsers and same-origin GETs send none). */
  allowsOrigin(origin: string): boolean {
    if (origin === '' || this.config.origins.length === 0) return true;
    return this.isAllowed(origin);
  }

  /** Headers for a response to `origin` (empty when not allowed or no Origin). */
  headers(origin: string): readonly (readonly [string, string])[] {
    if (!this.isAllowed(origin)) return [];
    const h: [string, string][] = [
      ['Access-Control-Allow-Origin', origin],
      ['Vary', 'Origin'],
    ];
    if (this.config.credentials) h.push(['Access-Control-Allow-Credentials', 'true']);
    return h;
  }

  preflightHeaders(origin: string): readonly (readonly [string, string])[] {
    const base = this.headers(origin);
    if (base.length === 0) return base;
    return [
      ...base,
      ['Access-Control-Allow-Methods', 'GET, POST, OPTIONS'],
      ['Access-Control-Allow-Headers', 'Authorization, Content-Type, Last-Event-ID, X-Api-Key'],
      ['Access-Control-Max-Age', '600'],
    ];
  }
}

/**
 * OPTIONS on a route browsers call cross-origin: 204 with the preflight headers for an
 * allowed origin, a bare 204 otherwise (the browser then refuses the real request).
 * `policy()` is read per request, so a reload applies at once.
 */
export function preflightHandler(policy: () => CorsPolicy): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    const origin = req.getHeader('origin');
    res.writeStatus('204 No Content');
    for (const [k, v] of policy().preflightHeaders(origin)) res.writeHeader(k, v);
    res.end();
  };
}
