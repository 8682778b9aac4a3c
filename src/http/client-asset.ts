import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StaticAsset } from './static-asset.js';

/**
 * The browser client (client/, built by `npm run build` into client/dist/herald.min.js),
 * served at GET /client.js so a page can `import { herald } from '/client.js'` without a
 * bundler. Module scripts are fetched in CORS mode, so any origin may load it: it is public
 * code, and carries no credentials.
 */
export const CLIENT_FILE = fileURLToPath(new URL('../../client/dist/herald.min.js', import.meta.url));

/** null when the client was not built (a `tsc`-only build): /client.js then answers 404. */
export function loadClientAsset(file = CLIENT_FILE): StaticAsset | null {
  let body: Buffer;
  try {
    body = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return new StaticAsset(body, 'text/javascript; charset=utf-8', 'public, max-age=300', [['Access-Control-Allow-Origin', '*']]);
}
