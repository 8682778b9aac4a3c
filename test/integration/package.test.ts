import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

// The npm package as a user installs it: `npm pack`, unpacked the way `npm install -g` lays
// it out (package dir + a `herald` link in bin/), then run through that link.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  engines: { node: string };
  files: string[];
};

// One `npm pack` for both tests below (npm is slow to start on a loaded machine).
const packDir = mkdtempSync(join(tmpdir(), 'herald-pack-'));
t.teardown(() => rmSync(packDir, { recursive: true, force: true }));
const packed = (JSON.parse((await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], { cwd: ROOT })).stdout) as [
  { filename: string; files: { path: string }[] },
])[0];

t.test('package.json is ready to publish', async (t) => {
  t.same(Object.keys(pkg.bin), ['herald'], 'one command: herald');
  t.match(pkg.engines.node, /^>=20/, 'engines: Node 20');
  t.ok(pkg.files.length > 0, 'an explicit files list');
  t.match(readFileSync(join(ROOT, 'dist', 'main.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the bin has a node shebang');
});

t.test('the packed files: the daemon, configs and docs; no sources, tests or benchmarks', async (t) => {
  const files = packed.files.map((f) => f.path);
  for (const needed of ['dist/main.js', 'dist/cli.js', 'config/herald.yaml', 'config/herald.example.yaml', 'config/herald.service', 'README.md', 'CHANGELOG.md', 'LICENSE', 'docs/README.md', 'docs/configuration.md']) {
    t.ok(files.includes(needed), needed);
  }
  t.same(files.filter((f) => /^(src|test|bench|scripts)\/|\.map$/.test(f)), [], 'nothing else');
});

t.test('after a global install, `herald` runs', async (t) => {
  const dir = packDir;
  const tarball = join(dir, packed.filename);
  const lib = join(dir, 'lib', 'node_modules');
  mkdirSync(join(lib, 'herald-gateway'), { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', join(lib, 'herald-gateway'), '--strip-components=1']);
  // The dependencies npm would install next to it: the checkout's own, same lock file.
  symlinkSync(join(ROOT, 'node_modules'), join(lib, 'herald-gateway', 'node_modules'));
  mkdirSync(join(dir, 'bin'));
  const bin = join(dir, 'bin', 'herald');
  symlinkSync(join(lib, 'herald-gateway', pkg.bin.herald!), bin);
  await run('chmod', ['+x', join(lib, 'herald-gateway', pkg.bin.herald!)]);
  const version = await run(bin, ['--version'], { cwd: dir });
  t.equal(version.stdout.trim(), pkg.version, 'herald --version');
  const check = await run(bin, ['check-config', '--config', join(lib, 'herald-gateway', 'config', 'herald.yaml')], { cwd: dir });
  t.match(check.stdout, /herald\.yaml: ok/, 'herald check-config on the packaged default config');
});
