import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
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

/**
 * Every specifier a file depends on: static `import … from` / `export … from`, bare
 * `import '…'`, and `import('…')` (a type position such as `import('x').T` is a dependency too).
 */
export function specifiersOf(text: string): string[] {
  const patterns = [/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm, /^\s*import\s+['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  return patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

const imports = new Map<string, string[]>();
for (const file of files(SRC)) imports.set(relative(SRC, file), specifiersOf(readFileSync(file, 'utf8')));

/** src-relative .ts paths a file imports (relative specifiers only). */
function localDeps(file: string): string[] {
  return (imports.get(file) ?? []).filter((s) => s.startsWith('.')).map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'));
}

/** One cycle in `graph`, as a path, or null. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    const at = path.indexOf(node);
    if (at >= 0) return [...path.slice(at), node];
    if (done.has(node)) return null;
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle !== null) return cycle;
    }
    path.pop();
    done.add(node);
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle !== null) return cycle;
  }
  return null;
}

function importers(pkg: string): string[] {
  return [...imports].filter(([, specs]) => specs.some((s) => s === pkg || s.startsWith(pkg + '/'))).map(([f]) => f).sort();
}

t.test('I/O packages have exactly one home each', async (t) => {
  // STYLE A.3: only broker/redis*.ts and history/redis*.ts (durable channels' streams).
  t.same(importers('ioredis').filter((f) => !/^(broker|history)\/redis[a-z-]*\.ts$/.test(f)), [], `ioredis: ${importers('ioredis').join(', ')}`);
  t.ok(importers('ioredis').includes('broker/redis.ts'));
  t.same(importers('prom-client'), ['metrics/merge.ts', 'metrics/metrics.ts'], 'the registry and the merge; never the hot-path counters');
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

t.test('import() type positions are seen as imports', async (t) => {
  t.same(specifiersOf("let x: import('uWebSockets.js').HttpResponse;"), ['uWebSockets.js']);
  t.same(specifiersOf("import './side-effect.js';"), ['./side-effect.js']);
});

t.test('no import cycles between files, nor between folders', async (t) => {
  const fileGraph = new Map([...imports.keys()].map((f) => [f, localDeps(f)]));
  t.same(findCycle(fileGraph), null, 'file cycle');
  const folderOf = (f: string): string => (f.includes('/') ? f.slice(0, f.indexOf('/')) : f);
  const folderGraph = new Map<string, string[]>();
  for (const [file, deps] of fileGraph) {
    const from = folderOf(file);
    const edges = folderGraph.get(from) ?? [];
    for (const d of deps) if (folderOf(d) !== from && !edges.includes(folderOf(d))) edges.push(folderOf(d));
    folderGraph.set(from, edges);
  }
  t.same(findCycle(folderGraph), null, 'folder cycle');
  t.same(findCycle(new Map([['a', ['b']], ['b', ['a']]])), ['a', 'b', 'a'], 'the check finds a planted cycle');
});

t.test('transports stay thin: no file under transport/ over 250 lines', async (t) => {
  for (const file of imports.keys()) {
    if (!file.startsWith('transport/')) continue;
    const lines = readFileSync(join(SRC, file), 'utf8').split('\n').length;
    t.ok(lines <= 250, `${file}: ${lines} lines (the lifecycle belongs in transport/lifecycle/)`);
  }
});
