import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import { readRequest } from './request.js';
import { HttpServer, writeError, type RequestScreenHooks } from './server.js';

export interface MetricsEndpointDeps {
  /** metrics.allow, built once (auth/address-allow.ts): may this socket address scrape? */
  readonly allows: (ip: string) => boolean;
  readonly text: () => Promise<string>;
  readonly contentType: string;
}

/**
 * GET /metrics. A caller off the allow-list gets the same 404 as an unknown path, so the
 * endpoint's existence is not advertised.
 */
export function metricsHandler(deps: MetricsEndpointDeps): (res: HttpResponse, req: HttpRequest) => Promise<void> {
  return async (res, req) => {
    // The socket address, never a forwarded header: the allow-list is about who connects.
    const facts = readRequest(res, req, '');
    if (!deps.allows(facts.ip)) {
      writeError(res, new HeraldError('not_found'));
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const text = await deps.text();
    if (aborted) return;
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('Content-Type', deps.contentType).end(text);
    });
  };
}

/** `metrics.listen: host:port`: /metrics on its own listener, away from client traffic. */
export async function listenMetrics(listen: string, deps: MetricsEndpointDeps, log: Logger, screen: RequestScreenHooks | null, share: boolean): Promise<HttpServer> {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
  const server = new HttpServer(log, screen);
  server.get('/metrics', metricsHandler(deps));
  server.fallback();
  const port = await server.listen(host, Number(listen.slice(colon + 1)), share);
  log.notice('metrics listening', { host, port });
  return server;
}
