import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { TokenVerifier } from '../../src/auth/jwt.js';
import { formatIssue, loadConfig } from '../../src/config/load.js';
import { hsToken, jwtConfig, NOW_MS, NOW_S, signToken, TEST_SECRET } from '../helpers/tokens.js';

// Issue 12: tokens without exp are refused unless the operator opts out; jwt.maxLifetime
// bounds exp; short or NUL-bearing HMAC secrets and every YAML anchor/alias mistake are
// config errors with FILE:LINE:COL.

function check(t: { testdir(): string }, text: string, env: Record<string, string> = {}): string[] {
  const file = join(t.testdir(), 'herald.yaml');
  writeFileSync(file, text);
  const { config, issues } = loadConfig({ file, env, overrides: {} });
  const lines = issues.filter((i) => i.severity === 'error').map((issue) => formatIssue(issue).split(file).join('F'));
  if (lines.length > 0 && config !== null) throw new Error('errors but a config');
  return lines;
}

const SECRET_32 = 'a'.repeat(32);

t.test('HMAC secrets shorter than the hash output are refused at load, at the value', async (t) => {
  t.same(check(t, 'jwt:\n  secret: abc\n'), ['F:2:11: secret is 3 bytes; HS256 needs at least 32 random bytes (jwt.secret)']);
  t.same(check(t, `jwt:\n  secret: ${'a'.repeat(31)}\n`), ['F:2:11: secret is 31 bytes; HS256 needs at least 32 random bytes (jwt.secret)']);
  t.same(check(t, `jwt:\n  secret: ${SECRET_32}\n`), [], '32 bytes is enough for HS256');
  t.same(check(t, `jwt:\n  algorithms: [HS256, HS384]\n  secret: ${'b'.repeat(40)}\n`), ['F:3:11: secret is 40 bytes; HS384 needs at least 48 random bytes (jwt.secret)']);
  t.same(check(t, `jwt:\n  algorithms: [HS512]\n  secret: ${'b'.repeat(48)}\n`), ['F:3:11: secret is 48 bytes; HS512 needs at least 64 random bytes (jwt.secret)']);
  t.same(check(t, `jwt:\n  algorithms: [HS512]\n  secret: ${'b'.repeat(64)}\n`), []);
  t.same(check(t, 'jwt:\n  secret: "${S}"\n', { S: 'short' }), ['F:2:11: secret is 5 bytes; HS256 needs at least 32 random bytes (jwt.secret)'], 'from ${ENV}: reported at the reference, value never printed');
  t.same(check(t, `jwt:\n  secret: "${'c'.repeat(20)}\\0${'c'.repeat(20)}"\n`), ['F:2:11: secret contains a NUL byte (jwt.secret)']);
  t.same(check(t, 'jwt:\n  secret: "ééééééééééééééé"\n'), ['F:2:11: secret is 30 bytes; HS256 needs at least 32 random bytes (jwt.secret)'], 'counted in UTF-8 bytes');
  t.same(check(t, 'jwt:\n  maxLifetime: -1s\n'), ['F:2:16: maxLifetime must be a duration like 5s (jwt.maxLifetime)']);
});

t.test('every YAML anchor and alias error is a config error with its location', async (t) => {
  t.same(check(t, 'jwt:\n  jwksFile: *nope\n'), ['F:2:13: alias *nope names no anchor defined before it']);
  t.same(check(t, 'jwt: *nope\n'), ['F:1:6: alias *nope names no anchor defined before it'], 'a whole section');
  t.match(check(t, 'limits:\n  maxFrameBytes: *nope\n'), ['F:2:18: maxFrameBytes must be a size like 64kb (limits.maxFrameBytes)', 'F:2:18: alias *nope names no anchor defined before it']);
  t.match(check(t, 'log: { level: &l warn }\nserver: { host: &l x }\n'), ['F:2:20: anchor &l is defined twice; give each anchor its own name']);
  t.same(check(t, 'limits:\n  maxFrameBytes: &x 16kb\n  maxBufferedBytes: *x\n'), [], 'a defined alias is fine');
  t.same(check(t, 'channels: &c [*c]\n'), ['F:1:15: channels[0] must be a mapping (channels[0])'], 'a self-referencing alias is an error, not a hang');
  t.match(check(t, 'limits:\n  maxFrameBytes: *x\n  maxBufferedBytes: &x 16kb\n'), ['F:2:18: maxFrameBytes must be a size like 64kb (limits.maxFrameBytes)', 'F:2:18: alias *x names no anchor defined before it'], 'alias before its anchor');
});

const verifier = (overrides: Parameters<typeof jwtConfig>[0] = {}): Promise<TokenVerifier> =>
  TokenVerifier.create(jwtConfig({ secret: TEST_SECRET, algorithms: ['HS256'], ...overrides }));

async function codeOf(v: TokenVerifier, token: string): Promise<string> {
  return v.verify(token, NOW_MS).then(() => 'ok', (err: { code?: string; message: string }) => `${err.code}: ${err.message}`);
}

t.test('a token without exp is refused by default; jwt.requireExp: false accepts it', async (t) => {
  const noExp = await hsToken({ sub: 'u1' }, null);
  t.match(await codeOf(await verifier(), noExp), /^token_claim_invalid: .*exp claim is missing/);
  t.equal(await codeOf(await verifier({ requireExp: false }), noExp), 'ok');
  t.equal(await codeOf(await verifier(), await hsToken({ sub: 'u1' })), 'ok', 'with exp it verifies');
});

t.test('jwt.maxLifetime refuses a token whose exp is further away', async (t) => {
  const v = await verifier({ maxLifetimeMs: 3_600_000 });
  const token = (exp: number): Promise<string> => signToken({ sub: 'u1' }, { alg: 'HS256', key: TEST_SECRET, exp });
  t.equal(await codeOf(v, await token(NOW_S + 3600)), 'ok', 'exactly the maximum');
  t.match(await codeOf(v, await token(NOW_S + 3601)), /^token_claim_invalid: .*jwt\.maxLifetime/);
  t.match(await codeOf(v, await token(NOW_S + 10 * 365 * 86400)), /^token_claim_invalid/, 'a ten-year token');
  t.equal(await codeOf(await verifier(), await token(NOW_S + 10 * 365 * 86400)), 'ok', '0 (the default) does not check');
});

t.test('loaded config carries the policy: requireExp true, maxLifetime 0 by default', async (t) => {
  const file = join(t.testdir(), 'herald.yaml');
  writeFileSync(file, `jwt:\n  secret: ${SECRET_32}\n`);
  const { config } = loadConfig({ file, env: {}, overrides: {} });
  t.equal(config?.jwt.requireExp, true);
  t.equal(config?.jwt.maxLifetimeMs, 0);
  writeFileSync(file, `jwt:\n  secret: ${SECRET_32}\n  requireExp: false\n  maxLifetime: 1h\n`);
  const second = loadConfig({ file, env: {}, overrides: {} }).config;
  t.equal(second?.jwt.requireExp, false);
  t.equal(second?.jwt.maxLifetimeMs, 3_600_000);
});
