import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/**
 * A small file served from memory with a strong ETag, answered 304 on a matching
 * If-None-Match (RFC 9110 §13.1.2: `*` or a comma list; weak validators compare weakly, so a
 * `W/` prefix added by a compressing proxy still matches). Built once at start.
 */
export class StaticAsset {
  readonly etag: string;
  private readonly headers: readonly (readonly [string, string])[];

  constructor(
    readonly body: Buffer,
    contentType: string,
    /** `max-age` short enough that a new Herald version is picked up soon; ETag makes revalidation cheap. */
    cacheControl: string,
    extraHeaders: readonly (readonly [string, string])[] = [],
  ) {
    this.etag = '"' + createHash('sha256').update(body).digest('base64url').slice(0, 22) + '"';
    this.headers = [['Content-Type', contentType], ['Cache-Control', cacheControl], ['ETag', this.etag], ...extraHeaders];
  }

  readonly serve = (res: HttpResponse, req: HttpRequest): void => {
    const fresh = matches(req.getHeader('if-none-match'), this.etag);
    res.writeStatus(fresh ? '304 Not Modified' : '200 OK');
    for (const [k, v] of this.headers) res.writeHeader(k, v);
    if (fresh) res.endWithoutBody();
    else res.end(this.body);
  };
}

function matches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === 'W/' + etag;
  });
}
