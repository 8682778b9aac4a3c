import type { Logger } from '../log.js';
import { loadClientAsset } from './client-asset.js';
import { LIVE_PAGE_HTML } from './live-page.js';
import type { HttpServer } from './server.js';
import { StaticAsset } from './static-asset.js';

/**
 * GET /client.js (always) and GET / (the live page, when `livePage.enabled`). Both are read
 * once at start; a SIGHUP reload does not add or remove them.
 */
export function pageRoutes(http: HttpServer, livePage: boolean, log: Logger): void {
  const client = loadClientAsset();
  if (client === null) log.warn('browser client not built: GET /client.js answers 404 (run npm run build)');
  else http.get('/client.js', client.serve);
  if (!livePage) return;
  // no-cache: revalidated on every visit (a 304 thanks to the ETag), so a new version shows at once.
  const page = new StaticAsset(Buffer.from(LIVE_PAGE_HTML), 'text/html; charset=utf-8', 'no-cache');
  http.get('/', page.serve);
}
