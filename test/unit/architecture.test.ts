import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

// Layering rules of STYLE.md §A, checked on every src/**/*.ts import specifier.
const SRC = fileURLToPath(new URL('../../src', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const imports = new Map<string, string[]>();
for (const file of files(SRC)) {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  imports.set(relative(SRC, file), specs);
}

function importers(pkg: string): string[] {
  return [...imports].filter(([, specs]) => specs.some((s) => s === pkg || s.startsWith(pkg + '/'))).map(([f]) => f).sort();
}

t.test('I/O packages have exactly one home each', async (t) => {
  // STYLE A.3: only broker/redis*.ts and history/redis*.ts (durable channels' streams).
  t.same(importers('ioredis').filter((f) => !/^(broker|history)\/redis[a-z-]*\.ts$/.test(f)), [], `ioredis: ${importers('ioredis').join(', ')}`);
  t.ok(importers('ioredis').includes('broker/redis.ts'));
  t.same(importers('prom-client'), ['metrics/metrics.ts']);
  t.same(importers('jose'), ['auth/jwt.ts']);
  t.ok(importers('yaml').every((f) => f === 'config/load.ts' || f === 'config/validate.ts'), `yaml: ${importers('yaml').join(', ')}`);
  t.ok(importers('uWebSockets.js').every((f) => f.startsWith('http/') || f.startsWith('transport/')), `uWS: ${importers('uWebSockets.js').join(', ')}`);
});

t.test('hub/ depends on no adapter layer', async (t) => {
  for (const [file, specs] of imports) {
    if (!file.startsWith('hub/')) continue;
    for (const s of specs) t.notMatch(s, /(broker|history|transport|http|metrics)\//, `${file} imports ${s}`);
  }
});

t.test('transports and http never reach into broker or history', async (t) => {
  for (const [file, specs] of imports) {
    if (!file.startsWith('transport/') && !file.startsWith('http/')) continue;
    for (const s of specs) t.notMatch(s, /\/(broker|history)\//, `${file} imports ${s}`);
  }
});

t.test('pure modules import no I/O', async (t) => {
  const pure = ['encode/sse.ts', 'encode/ws.ts', 'encode/poll.ts', 'hub/position.ts', 'config/units.ts', 'rules/pattern.ts', 'transport/backpressure.ts', 'hub/interest.ts'];
  for (const file of pure) {
    for (const s of imports.get(file) ?? []) t.ok(s.startsWith('.'), `${file} imports ${s}`);
  }
});

t.test('only cli.ts reads process.env; only main.ts calls process.exit', async (t) => {
  for (const file of imports.keys()) {
    const text = readFileSync(join(SRC, file), 'utf8');
    if (/process\.env\b/.test(text)) t.ok(['cli.ts', 'main.ts', 'supervisor'].some((f) => file.startsWith(f)), `${file} reads process.env`);
    if (/process\.exit\(/.test(text)) t.ok(file === 'main.ts' || file.startsWith('supervisor'), `${file} calls process.exit`);
  }
});

t.test('no empty catch blocks', async (t) => {
  for (const file of imports.keys()) {
    const text = readFileSync(join(SRC, file), 'utf8');
    t.notMatch(text, /catch\s*(\([^)]*\))?\s*\{\s*\}/, file);
  }
});
