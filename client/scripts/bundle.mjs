// Bundles the compiled ESM (dist/index.js and its imports) into one minified file, the one
// Herald serves at GET /client.js and the size test measures (test/unit/client-size.test.ts).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
await build({
  entryPoints: [dist + 'index.js'],
  outfile: dist + 'herald.min.js',
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
