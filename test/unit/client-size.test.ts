import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import t from 'tap';

// The browser client's size budget (issue 13): ≤ 4 KB minified + gzipped. Measured on the
// compiled ESM (npm run build), bundled and minified here with the pinned esbuild, and on the
// file Herald serves at /client.js. Fails above the budget.

const BUDGET_BYTES = 4096;
const CLIENT = fileURLToPath(new URL('../../client/', import.meta.url));

t.test('client/ is a zero-dependency ES module package with types', async (t) => {
  const pkg = JSON.parse(readFileSync(`${CLIENT}package.json`, 'utf8')) as Record<string, unknown>;
  t.equal(pkg.type, 'module');
  t.equal(pkg.dependencies, undefined, 'no runtime dependencies');
  t.equal(pkg.types, 'dist/index.d.ts');
  for (const f of ['index.js', 'index.d.ts', 'transports.d.ts', 'herald.min.js']) t.ok(existsSync(`${CLIENT}dist/${f}`), `dist/${f} built`);
  t.match(readFileSync(`${CLIENT}dist/index.d.ts`, 'utf8'), /export declare function herald\(url: string, options\?: HeraldOptions\): Herald;/);
});

t.test(`minified + gzipped client ≤ ${BUDGET_BYTES} bytes`, async (t) => {
  const out = await build({ entryPoints: [`${CLIENT}dist/index.js`], bundle: true, minify: true, format: 'esm', target: 'es2020', write: false, legalComments: 'none' });
  const minified = out.outputFiles[0]!.contents;
  const gzipped = gzipSync(minified, { level: 9 }).length;
  t.comment(`client: ${minified.length} B minified, ${gzipped} B min+gzip (budget ${BUDGET_BYTES} B)`);
  t.ok(gzipped <= BUDGET_BYTES, `${gzipped} B min+gzip`);
  const served = gzipSync(readFileSync(`${CLIENT}dist/herald.min.js`), { level: 9 }).length;
  t.ok(served <= BUDGET_BYTES, `the served /client.js: ${served} B min+gzip`);
});
