import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { chromiumAvailable, launchBrowser } from '../helpers/browser.js';
import { docFiles, extractBlocks, runnerOf, type DocBlock } from '../helpers/doc-blocks.js';
import { MAIN, startHerald } from '../helpers/herald.js';
import { freePort, redisWithPublisher } from '../helpers/redis.js';

// Every fenced block of README.md and docs/**.md is executed as a user would run it, or is
// marked illustrative (the convention is in test/helpers/doc-blocks.ts and
// docs/development.md). A Herald started here plays the one the docs talk about: the docs'
// `127.0.0.1:8080` / `localhost:8080` become its port and `redis://127.0.0.1:6379` its Redis;
// `herald` and `npx herald-gateway` run this checkout's dist/main.js.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'docs-example-secret-at-least-32-bytes-long';
const ENV: Record<string, string> = {
  HERALD_JWT_SECRET: SECRET,
  HERALD_PUBLISH_KEY: 'docs-example-publish-key',
  ORDERS_SERVICE_KEY: 'docs-example-orders-key',
  REDIS_PASSWORD: 'docs-example-redis-password',
};

const { redisUrl, pub } = await redisWithPublisher(t);
const herald = await startHerald(t, {
  env: ENV,
  config: `
broker: { type: redis, url: "${redisUrl}" }
jwt: { secret: "\${HERALD_JWT_SECRET}" }
channels:
  - { pattern: "public:{name}", access: public }
  - { pattern: "events:{name}", payload: json, access: public }
  - { pattern: "user:{userId}", access: { token: { sub: userId } } }
publish:
  keys: [{ key: "\${HERALD_PUBLISH_KEY}", scopes: ["*"] }]
cors: { origins: ["*"] }
log: { level: warn }
`,
});

const scratch = mkdtempSync(join(tmpdir(), 'herald-docs-'));
// Node examples import packages (jose): they must sit under the checkout's node_modules.
const nodeDir = join(ROOT, 'node_modules', '.herald-docs-examples');
mkdirSync(nodeDir, { recursive: true });
t.teardown(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(nodeDir, { recursive: true, force: true });
});

function localize(text: string, port: number): string {
  return text
    .replace(/(?:localhost|127\.0\.0\.1):8080/g, `127.0.0.1:${port}`)
    .replaceAll('redis://127.0.0.1:6379', redisUrl);
}

const PRELUDE = `set -eo pipefail
herald() { node "$DOCS_HERALD_MAIN" "$@"; }
npx() { if [ "$1" = herald-gateway ]; then shift; node "$DOCS_HERALD_MAIN" "$@"; else command npx "$@"; fi; }
redis-cli() { command redis-cli -u "$DOCS_REDIS_URL" "$@"; }
`;

interface Ran {
  readonly code: number | null;
  readonly out: string;
}

function runProcess(cmd: string, args: readonly string[], env: Record<string, string>, timeoutMs: number, until?: RegExp): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let settled = false;
    const stopGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    const onData = (c: Buffer): void => {
      out += c.toString('utf8');
      if (until !== undefined && !settled && until.test(out)) {
        settled = true;
        stopGroup('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    const timer = setTimeout(() => stopGroup('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: until !== undefined && settled ? 0 : code, out });
    });
  });
}

const bashEnv = (port: number): Record<string, string> => ({ DOCS_HERALD_MAIN: MAIN, DOCS_REDIS_URL: redisUrl, HERALD_PORT: String(port) });

async function runBash(t: Test, block: DocBlock, expect: string | undefined): Promise<void> {
  const r = await runProcess('bash', ['-c', PRELUDE + localize(block.body, herald.port)], bashEnv(herald.port), 30_000);
  t.equal(r.code, 0, `exit 0\n${r.out}`);
  if (expect !== undefined) t.ok(r.out.includes(expect), `output has ${JSON.stringify(expect)}:\n${r.out}`);
}

/** A block that starts Herald: on a port of its own, until it logs `listening`; then stopped. */
async function runDaemon(t: Test, block: DocBlock): Promise<void> {
  const port = await freePort();
  const r = await runProcess('bash', ['-c', PRELUDE + localize(block.body, port)], bashEnv(port), 30_000, /"msg":"listening"/);
  t.equal(r.code, 0, `started and logged listening\n${r.out}`);
  t.match(r.out, new RegExp(`"msg":"listening".*"port":${port}`), 'on the port it was given');
}

async function runCheckConfig(t: Test, block: DocBlock): Promise<void> {
  const file = join(scratch, `${block.file.replace(/\W/g, '_')}-${block.line}.yaml`);
  writeFileSync(file, block.body);
  const r = await runProcess(process.execPath, [MAIN, 'check-config', '--config', file], {}, 20_000);
  t.equal(r.code, 0, `check-config accepts it\n${r.out}`);
}

async function runNode(t: Test, block: DocBlock, expect: string | undefined): Promise<void> {
  const file = join(nodeDir, `example-${block.line}.mjs`);
  writeFileSync(file, localize(block.body, herald.port));
  const r = await runProcess(process.execPath, [file], {}, 20_000);
  t.equal(r.code, 0, `exit 0\n${r.out}`);
  if (expect !== undefined) t.ok(r.out.includes(expect), `output has ${JSON.stringify(expect)}:\n${r.out}`);
}

/** The page's own origin, with the token endpoint the auth examples call (`sub` 42). */
async function startAppServer(): Promise<string> {
  const key = new TextEncoder().encode(SECRET);
  const server = createServer((req, res) => {
    if (req.url === '/api/herald-token') {
      void new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('42').setIssuedAt().setExpirationTime('15m').sign(key)
        .then((token) => res.writeHead(200, { 'content-type': 'text/plain' }).end(token));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>app</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

const browser = chromiumAvailable() ? await launchBrowser(t) : null;
const appOrigin = await startAppServer();

/** Runs the block as a module script on an app page; publishes until `expect` is logged. */
async function runBrowser(t: Test, block: DocBlock, expect: string | undefined, publish: string | undefined): Promise<void> {
  if (browser === null) {
    t.comment('skipped: no Chromium at /usr/bin/chromium (.ci/run installs it)');
    t.pass('not run without Chromium');
    return;
  }
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const logs: string[] = [];
    const errors: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${appOrigin}/`);
    await page.addScriptTag({ type: 'module', content: localize(block.body, herald.port) });
    const deadline = Date.now() + 10_000;
    const [channel, ...data] = (publish ?? '').split(' ');
    while (Date.now() < deadline && errors.length === 0 && (expect === undefined || !logs.some((l) => l.includes(expect)))) {
      if (publish !== undefined) await pub.publish(channel!, data.join(' '));
      await new Promise((r) => setTimeout(r, expect === undefined ? 1000 : 250));
      if (expect === undefined) break;
    }
    t.same(errors, [], 'no uncaught error on the page');
    if (expect !== undefined) t.ok(logs.some((l) => l.includes(expect)), `console shows ${JSON.stringify(expect)}: ${JSON.stringify(logs)}`);
  } finally {
    await context.close();
  }
}

const tally: Record<string, number> = {};
for (const file of docFiles(ROOT)) {
  const blocks = extractBlocks(ROOT, file);
  if (blocks.length === 0) continue;
  await t.test(file, async (t) => {
    for (const block of blocks) {
      const runner = runnerOf(block);
      const name = `${block.where} (${typeof runner === 'string' ? runner : 'no runner'})`;
      if (typeof runner !== 'string') {
        t.fail(`${block.where}: ${runner.problem}`);
        continue;
      }
      tally[runner] = (tally[runner] ?? 0) + 1;
      if (runner === 'skip') continue;
      const opts = block.marker?.kind === 'run' ? block.marker.options : {};
      await t.test(name, async (t) => {
        switch (runner) {
          case 'check-config': return runCheckConfig(t, block);
          case 'bash': return runBash(t, block, opts.expect);
          case 'daemon': return runDaemon(t, block);
          case 'node': return runNode(t, block, opts.expect);
          case 'browser': return runBrowser(t, block, opts.expect, opts.publish);
          case 'json': {
            t.doesNotThrow(() => JSON.parse(block.body), 'valid JSON');
            return;
          }
        }
      });
    }
  });
}
t.comment(`doc blocks by runner: ${JSON.stringify(tally)}`);
