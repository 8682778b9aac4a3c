#!/usr/bin/env node
/**
 * `npm run bench:compare [-- options]`: the bench with Nchan side by side. Installs Debian's
 * nginx and libnginx-mod-nchan when they are missing and we are root; options as run.mjs.
 */
import { spawnSync } from 'node:child_process';
import { main } from './run.mjs';
import { nchanAvailable } from './lib/targets.mjs';

function ensureNchan() {
  if (nchanAvailable()) return;
  if (process.getuid?.() !== 0) throw new Error('nginx + libnginx-mod-nchan are missing; install them (as root: apt-get install nginx libnginx-mod-nchan)');
  process.stderr.write('installing nginx and libnginx-mod-nchan...\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-q'], ['install', '-y', '-q', '--no-install-recommends', 'nginx', 'libnginx-mod-nchan']]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed with ${r.status}`);
  }
  // Debian's post-install may start the packaged nginx; the bench runs its own on a free port.
  spawnSync('sh', ['-c', 'command -v service >/dev/null && service nginx stop'], { stdio: 'ignore' });
  if (!nchanAvailable()) throw new Error('nchan module still missing after install');
}

try {
  ensureNchan();
  const argv = process.argv.slice(2);
  await main(argv.includes('--nchan') ? argv : ['--nchan', ...argv]);
} catch (err) {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
}
