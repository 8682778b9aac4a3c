import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { MAIN } from '../helpers/herald.js';
import { signToken, TEST_SECRET } from '../helpers/tokens.js';

// The CLI as an operator runs it: check-config, check-access and start with a broken file.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BROKEN = 'test/fixtures/config/broken.yaml';
const FILE_LINE_COL = /^test\/fixtures\/config\/broken\.yaml:\d+:\d+: \S/;

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

function herald(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

t.test('check-config on a broken file: exit 1, one FILE:LINE:COL line per problem', async (t) => {
  const r = await herald(['check-config', BROKEN]);
  t.equal(r.code, 1);
  const lines = r.err.trim().split('\n');
  t.ok(lines.length >= 5, `several problems reported at once (${lines.length})`);
  for (const line of lines) t.match(line, FILE_LINE_COL, line);
  t.match(r.err, /broken\.yaml:3:\d+: .*server\.port/, 'the bad port, at its line');
  t.match(r.err, /did you mean `host`/, 'a did-you-mean for the misspelt key');
  t.equal(r.out, '', 'nothing on stdout');
});

t.test('check-config on config/herald.yaml: exit 0 with the compiled rules', async (t) => {
  const r = await herald(['check-config', 'config/herald.yaml']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /config\/herald\.yaml: ok/);
  t.match(r.out, /1\. public:\{name\}/, 'the rule is printed');
  t.match(r.out, /access public/);
});

t.test('start with a broken config: exit 1 and FILE:LINE:COL on stderr, never listens', async (t) => {
  const r = await herald(['start', '--config', BROKEN, '--port', '0']);
  t.equal(r.code, 1);
  t.match(r.err, /^test\/fixtures\/config\/broken\.yaml:\d+:\d+: /m);
  t.notMatch(r.err + r.out, /"msg":"listening"/);
});

t.test('check-access: allowed or denied, with the reason, and the token never printed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'herald.yaml');
  writeFileSync(
    config,
    `
channels:
  - { pattern: "public:{name}", access: public }
  - pattern: "user:{userId}"
    access: { token: { sub: userId } }
  - pattern: "forum:{forum}:thread:{id}"
    access: { token: { claimContains: { claim: forums, param: forum } } }
jwt: { algorithms: [HS256], secret: "\${SECRET}" }
`,
  );
  const env = { SECRET: TEST_SECRET };
  const nowS = Math.floor(Date.now() / 1000);
  const token = await signToken({ iat: nowS, sub: '42', forums: ['f1'] }, { alg: 'HS256', key: TEST_SECRET, exp: nowS + 3600 });
  const expired = await signToken({ iat: nowS - 7200, sub: '42' }, { alg: 'HS256', key: TEST_SECRET, exp: nowS - 3600 });
  const access = (channel: string, tok?: string): Promise<Run> =>
    herald(['check-access', '--config', config, '--channel', channel, ...(tok === undefined ? [] : ['--token', tok])], env);

  const cases: [string, string, string | undefined, number, RegExp[]][] = [
    ['public channel, no token', 'public:x', undefined, 0, [/rule: public:\{name\} \(public\)/, /^allowed$/m]],
    ['own user channel', 'user:42', token, 0, [/condition sub == \{userId\}: passed/, /token: valid \(sub=42/, /^allowed$/m]],
    ["another user's channel", 'user:43', token, 1, [/condition sub == \{userId\}: FAILED/, /denied: token_forbidden/, /^denied: token_forbidden/m]],
    ['token channel without a token', 'user:42', undefined, 1, [/token: none given/, /denied: token_missing/]],
    ['expired token', 'user:42', expired, 1, [/token: refused \(token_expired/, /denied: token_expired/]],
    ['tampered token', 'user:42', token.slice(0, -3) + 'AAA', 1, [/denied: token_signature_invalid/]],
    ['forum member', 'forum:f1:thread:3', token, 0, [/forums contains \{forum\}: passed/, /^allowed$/m]],
    ['not a forum member', 'forum:f2:thread:3', token, 1, [/forums contains \{forum\}: FAILED/, /denied: token_forbidden/]],
    ['no rule matches', 'secret:x', token, 1, [/rule: none matches \(default deny\)/, /denied: channel_denied/]],
    ['invalid channel name', 'public:a b', undefined, 1, [/denied: channel_invalid/]],
  ];
  // Each case is its own process: run them side by side, check them in order.
  const runs = await Promise.all(cases.map(([, channel, tok]) => access(channel, tok)));
  for (const [i, [what, , tok, code, patterns]] of cases.entries()) {
    const r = runs[i]!;
    t.equal(r.code, code, `${what}: exit ${code}`);
    for (const re of patterns) t.match(r.out, re, `${what}: ${re}`);
    t.equal((r.out.match(/^(allowed|denied)\b/gm) ?? []).length, 1, `${what}: one verdict line`);
    if (tok !== undefined) t.notOk((r.out + r.err).includes(tok), `${what}: the token is not printed`);
    t.notOk((r.out + r.err).includes(TEST_SECRET), `${what}: the secret is not printed`);
  }

  const missing = await herald(['check-access', '--config', config], env);
  t.not(missing.code, 0, '--channel is required');
  t.match(missing.err, /--channel/);
});
