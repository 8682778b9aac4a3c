import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { exportJWK, generateKeyPair } from 'jose';
import { HeraldError, type ErrorCodeName } from '../../src/errors.js';
import { MAX_TOKEN_LENGTH, msUntilExpiry, tokenFromRequest, TokenVerifier } from '../../src/auth/jwt.js';
import {
  EC_PUBLIC_PEM, FIXTURES, JWKS_FILE, NOW_MS, NOW_S, RSA_PUBLIC_PEM, TEST_SECRET,
  ecPrivateKey, hsToken, jwtConfig, rsaPrivateKey, signToken, tamper, unsecuredToken,
} from '../helpers/tokens.js';

async function codeOf(verifier: TokenVerifier, token: string, nowMs = NOW_MS): Promise<ErrorCodeName | 'ok'> {
  return verifier.verify(token, nowMs).then(
    () => 'ok' as const,
    (error: unknown) => {
      if (error instanceof HeraldError) return error.code;
      throw error;
    },
  );
}

const hs = () => TokenVerifier.create(jwtConfig({ secret: TEST_SECRET, algorithms: ['HS256'] }));

t.test('HS256 with the shared secret', async (t) => {
  const verifier = await hs();
  t.equal(verifier.enabled, true);
  const claims = await verifier.verify(await hsToken({ sub: 'u1', forums: ['a'] }), NOW_MS);
  t.equal(claims.sub, 'u1');
  t.same(claims['forums'], ['a']);
  t.equal(claims.exp, NOW_S + 3600);
});

t.test('RS256 from a PEM public key file', async (t) => {
  const verifier = await TokenVerifier.create(jwtConfig({ publicKeyFile: RSA_PUBLIC_PEM }));
  const token = await signToken({ sub: 'u2' }, { alg: 'RS256', key: await rsaPrivateKey() });
  t.equal((await verifier.verify(token, NOW_MS)).sub, 'u2');
  t.equal(await codeOf(verifier, tamper(token)), 'token_signature_invalid');
  const other = await generateKeyPair('RS256');
  t.equal(await codeOf(verifier, await signToken({ sub: 'u2' }, { alg: 'RS256', key: other.privateKey })), 'token_signature_invalid', 'wrong key');
  // An ES256 token is allowed by name, but no configured key can check it.
  const es = await signToken({ sub: 'u2' }, { alg: 'ES256', key: await ecPrivateKey() });
  t.equal(await codeOf(verifier, es), 'token_signature_invalid');
});

t.test('ES256 from a PEM public key file', async (t) => {
  const verifier = await TokenVerifier.create(jwtConfig({ publicKeyFile: EC_PUBLIC_PEM }));
  const token = await signToken({ sub: 'u3' }, { alg: 'ES256', key: await ecPrivateKey() });
  t.equal((await verifier.verify(token, NOW_MS)).sub, 'u3');
});

t.test('ES256 from a JWKS file', async (t) => {
  const verifier = await TokenVerifier.create(jwtConfig({ jwksFile: JWKS_FILE }));
  const key = await ecPrivateKey();
  t.equal((await verifier.verify(await signToken({ sub: 'a' }, { alg: 'ES256', key, kid: 'ec-1' }), NOW_MS)).sub, 'a');
  t.equal((await verifier.verify(await signToken({ sub: 'b' }, { alg: 'ES256', key }), NOW_MS)).sub, 'b', 'no kid: one EC key fits');
  t.equal(await codeOf(verifier, await signToken({}, { alg: 'ES256', key, kid: 'nope' })), 'token_signature_invalid', 'unknown kid');
  const rs = await signToken({ sub: 'c' }, { alg: 'RS256', key: await rsaPrivateKey(), kid: 'rsa-1' });
  t.equal((await verifier.verify(rs, NOW_MS)).sub, 'c', 'RS256 key from the same set');
});

t.test('JWKS with several keys matching the token: any one must verify', async (t) => {
  const dir = t.testdir();
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => generateKeyPair('ES256', { extractable: true })));
  if (a === undefined || b === undefined || c === undefined) throw new Error('keys');
  const jwks = { keys: [await exportJWK(a.publicKey), await exportJWK(b.publicKey)] };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
  const verifier = await TokenVerifier.create(jwtConfig({ jwksFile: join(dir, 'jwks.json') }));
  t.equal((await verifier.verify(await signToken({ sub: 'b' }, { alg: 'ES256', key: b.privateKey }), NOW_MS)).sub, 'b');
  t.equal(await codeOf(verifier, await signToken({}, { alg: 'ES256', key: c.privateKey })), 'token_signature_invalid');
});

t.test('each failure mode has its own code', async (t) => {
  const verifier = await TokenVerifier.create(
    jwtConfig({ secret: TEST_SECRET, algorithms: ['HS256'], issuer: 'https://issuer.test', audience: 'herald' }),
  );
  const good = { iss: 'https://issuer.test', aud: 'herald', sub: 'u' };
  const cases: Array<[string, string, ErrorCodeName | 'ok']> = [
    ['valid', await hsToken(good), 'ok'],
    ['empty', '', 'token_missing'],
    ['garbage', 'not-a-token', 'token_invalid'],
    ['three garbage parts', 'a.b.c', 'token_invalid'],
    ['too long', 'a'.repeat(MAX_TOKEN_LENGTH + 1), 'token_invalid'],
    ['alg none', unsecuredToken(good), 'token_algorithm_denied'],
    ['wrong secret', await signToken(good, { alg: 'HS256', key: 'another-secret-another-secret-xx' }), 'token_signature_invalid'],
    ['tampered signature', tamper(await hsToken(good)), 'token_signature_invalid'],
    ['expired', await hsToken(good, NOW_S - 1), 'token_expired'],
    ['not yet valid', await hsToken({ ...good, nbf: NOW_S + 60 }), 'token_not_yet_valid'],
    ['wrong iss', await hsToken({ ...good, iss: 'https://evil.test' }), 'token_claim_invalid'],
    ['missing iss', await hsToken({ aud: 'herald' }), 'token_claim_invalid'],
    ['wrong aud', await hsToken({ ...good, aud: 'other' }), 'token_claim_invalid'],
    ['numeric sub', await hsToken({ ...good, sub: 42 as unknown as string }), 'token_invalid'],
    ['exp not a number', await signToken({ ...good, exp: 'soon' as unknown as number }, { alg: 'HS256', key: TEST_SECRET, exp: null }), 'token_invalid'],
  ];
  for (const [name, token, code] of cases) t.equal(await codeOf(verifier, token), code, name);
  t.equal(await codeOf(verifier, await hsToken(good, NOW_S + 10), (NOW_S + 10) * 1000), 'token_expired', 'exp == now is expired');
});

t.test('a tampered payload fails the signature', async (t) => {
  const verifier = await hs();
  const [header, , signature] = (await hsToken({ sub: 'u1' })).split('.');
  const forged = Buffer.from(JSON.stringify({ sub: 'admin', exp: NOW_S + 3600 })).toString('base64url');
  t.equal(await codeOf(verifier, `${header}.${forged}.${signature}`), 'token_signature_invalid');
});

t.test('algorithm allow-list', async (t) => {
  const rs = await signToken({ sub: 'u' }, { alg: 'RS256', key: await rsaPrivateKey() });
  t.equal(await codeOf(await hs(), rs), 'token_algorithm_denied', 'RS256 when only HS256 is allowed');
  const rsOnly = await TokenVerifier.create(jwtConfig({ secret: TEST_SECRET, publicKeyFile: RSA_PUBLIC_PEM, algorithms: ['RS256'] }));
  t.equal(await codeOf(rsOnly, await hsToken({ sub: 'u' })), 'token_algorithm_denied', 'HS256 when only RS256 is allowed');
  t.equal(await codeOf(rsOnly, rs), 'ok');
});

t.test('no RS256 → HS256 confusion: the public key is never an HMAC secret', async (t) => {
  const verifier = await TokenVerifier.create(jwtConfig({ publicKeyFile: RSA_PUBLIC_PEM, algorithms: ['HS256', 'RS256'] }));
  const forged = await signToken({ sub: 'admin' }, { alg: 'HS256', key: readFileSync(RSA_PUBLIC_PEM, 'utf8') });
  t.equal(await codeOf(verifier, forged), 'token_signature_invalid');
});

t.test('with no key configured the verifier is disabled and admits nobody', async (t) => {
  const verifier = await TokenVerifier.create(jwtConfig());
  t.equal(verifier.enabled, false);
  t.equal(await codeOf(verifier, await hsToken({ sub: 'u' })), 'token_signature_invalid');
  t.equal(await codeOf(verifier, ''), 'token_missing');
});

t.test('create: config problems name the knob', async (t) => {
  const dir = t.testdir({
    'bad.json': '{not json',
    'nokeys.json': '{"keys": 1}',
    'private.json': JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }),
  });
  const rejects = async (overrides: Parameters<typeof jwtConfig>[0], pattern: RegExp, name: string) =>
    t.rejects(TokenVerifier.create(jwtConfig(overrides)), pattern, name);
  await rejects({ publicKeyFile: join(dir, 'missing.pem') }, /cannot read jwt\.publicKeyFile .*missing\.pem/, 'missing PEM');
  await rejects({ jwksFile: join(dir, 'missing.json') }, /cannot read jwt\.jwksFile/, 'missing JWKS');
  await rejects({ publicKeyFile: `${FIXTURES}rsa-private.pem` }, /jwt\.publicKeyFile .*PUBLIC KEY/, 'private key given');
  await rejects({ publicKeyFile: RSA_PUBLIC_PEM, algorithms: ['ES256'] }, /jwt\.publicKeyFile .*fits none of jwt\.algorithms/, 'RSA key, EC alg');
  await rejects({ jwksFile: join(dir, 'bad.json') }, /jwt\.jwksFile .*not valid JSON/, 'bad JSON');
  await rejects({ jwksFile: join(dir, 'nokeys.json') }, /jwt\.jwksFile .*"keys" array/, 'no keys array');
  await rejects({ jwksFile: join(dir, 'private.json') }, /jwt\.jwksFile .*secret key material/, 'secret in JWKS');
  await rejects({ secret: 's', algorithms: ['HS256', 'none'] }, /jwt\.algorithms must not include "none"/, 'none allowed');
  await rejects({ secret: 's', algorithms: [] }, /jwt\.algorithms is empty/, 'empty allow-list');
  await rejects({ publicKeyFile: RSA_PUBLIC_PEM, jwksFile: JWKS_FILE }, /only one of jwt\.publicKeyFile and jwt\.jwksFile/, 'both');
});

t.test('tokenFromRequest', async (t) => {
  t.equal(tokenFromRequest('Bearer abc.def.ghi', ''), 'abc.def.ghi');
  t.equal(tokenFromRequest('bearer   abc ', 'q'), 'abc', 'scheme is case-insensitive; spaces trimmed');
  t.equal(tokenFromRequest('BEARER x', ''), 'x');
  t.equal(tokenFromRequest('', 'from-query'), 'from-query');
  t.equal(tokenFromRequest('Basic dXNlcjpwYXNz', 'q'), 'q', 'other schemes are ignored');
  t.equal(tokenFromRequest('Bearer ', 'q'), 'q');
  t.equal(tokenFromRequest('Bearerabc', ''), '');
  t.equal(tokenFromRequest('', ''), '');
});

t.test('msUntilExpiry', async (t) => {
  t.equal(msUntilExpiry({ exp: NOW_S + 5 }, NOW_MS), 5000);
  t.equal(msUntilExpiry({ exp: NOW_S - 5 }, NOW_MS), 0);
  t.equal(msUntilExpiry({}, NOW_MS), Infinity);
  t.equal(msUntilExpiry({ sub: 'x', exp: Number.NaN }, NOW_MS), Infinity);
});
