/**
 * JWT verification for subscribe requests. The only importer of `jose`.
 *
 * Key choice is by algorithm family, never by what the token asks for: HS* tokens are checked
 * only against `jwt.secret`, asymmetric ones only against `jwt.publicKeyFile` or `jwt.jwksFile`.
 * This closes the classic RS256→HS256 confusion (a token "signed" with the public key as an
 * HMAC secret). `none` can never be allowed: `create` refuses it and jose's allow-list check runs
 * before any key is looked at.
 *
 * Tokens are never logged and never echoed in error details.
 */
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, errors, importSPKI, importX509, jwtVerify } from 'jose';
import type { CryptoKey, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { JwtConfig } from '../config/types.js';
import { HeraldError, isHeraldError } from '../errors.js';

export interface Claims {
  readonly sub?: string;
  readonly exp?: number;
  readonly [claim: string]: unknown;
}

/** Longer tokens are refused before any parsing or crypto (bounded work per client input). */
export const MAX_TOKEN_LENGTH = 8192;

const HMAC_ALG = /^HS\d+$/;

type JwksLookup = ReturnType<typeof createLocalJWKSet>;

export class TokenVerifier {
  /**
   * False when none of `jwt.secret`, `jwt.publicKeyFile`, `jwt.jwksFile` is set. A disabled
   * verifier refuses every token with `token_signature_invalid` ("no key can verify it"): a
   * token rule then admits nobody, which keeps default deny. `token_invalid` would wrongly
   * tell the client its token is malformed.
   */
  readonly enabled: boolean;
  readonly #getKey: JWTVerifyGetKey;
  readonly #options: JWTVerifyOptions;
  readonly #maxLifetimeMs: number;

  private constructor(enabled: boolean, getKey: JWTVerifyGetKey, options: JWTVerifyOptions, maxLifetimeMs: number) {
    this.enabled = enabled;
    this.#getKey = getKey;
    this.#options = options;
    this.#maxLifetimeMs = maxLifetimeMs;
  }

  /** Reads the key files once. Throws an Error naming the knob when a file is unusable. */
  static async create(config: JwtConfig): Promise<TokenVerifier> {
    if (config.algorithms.some((alg) => alg.toLowerCase() === 'none')) {
      throw new Error('jwt.algorithms must not include "none": unsigned tokens would be accepted');
    }
    if (config.publicKeyFile !== '' && config.jwksFile !== '') {
      throw new Error('set only one of jwt.publicKeyFile and jwt.jwksFile');
    }
    const secret = config.secret === '' ? null : new TextEncoder().encode(config.secret);
    const asymmetric = config.algorithms.filter((alg) => !HMAC_ALG.test(alg));
    const pemKeys = config.publicKeyFile === '' ? null : await loadPemKeys(config.publicKeyFile, asymmetric);
    const jwks = config.jwksFile === '' ? null : await loadJwks(config.jwksFile);
    const enabled = secret !== null || pemKeys !== null || jwks !== null;
    if (enabled && config.algorithms.length === 0) {
      throw new Error('jwt.algorithms is empty: every token would be refused');
    }
    const options: JWTVerifyOptions = {
      algorithms: [...config.algorithms],
      ...(config.issuer === '' ? {} : { issuer: config.issuer }),
      ...(config.audience === '' ? {} : { audience: config.audience }),
      // A token without exp never expires: one leaked token would open its channels forever.
      ...(config.requireExp ? { requiredClaims: ['exp'] } : {}),
    };
    return new TokenVerifier(enabled, keyResolver(secret, pemKeys, jwks), options, config.maxLifetimeMs);
  }

  /** Resolves to the claims, or rejects with a HeraldError whose code says what is wrong. */
  async verify(token: string, nowMs: number = Date.now()): Promise<Claims> {
    if (token === '') throw new HeraldError('token_missing');
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new HeraldError('token_invalid', `longer than ${MAX_TOKEN_LENGTH} characters`);
    }
    if (!this.enabled) throw new HeraldError('token_signature_invalid', 'no verification key is configured');
    const options: JWTVerifyOptions = { ...this.#options, currentDate: new Date(nowMs) };
    let claims: Claims;
    try {
      claims = checkClaimTypes((await jwtVerify(token, this.#getKey, options)).payload);
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw toHeraldError(error);
      claims = await this.#verifyEach(token, error, options);
    }
    return this.#checkLifetime(claims, nowMs);
  }

  /** jwt.maxLifetime bounds how long a token stays usable, whatever exp its issuer chose. */
  #checkLifetime(claims: Claims, nowMs: number): Claims {
    const max = this.#maxLifetimeMs;
    if (max > 0 && typeof claims.exp === 'number' && claims.exp * 1000 - nowMs > max) {
      throw new HeraldError('token_claim_invalid', `exp is more than ${Math.round(max / 1000)} s away (jwt.maxLifetime)`);
    }
    return claims;
  }

  /** A JWKS may hold several keys matching alg (and no kid): the token must verify with one. */
  async #verifyEach(token: string, candidates: errors.JWKSMultipleMatchingKeys, options: JWTVerifyOptions): Promise<Claims> {
    for await (const key of candidates) {
      try {
        return checkClaimTypes((await jwtVerify(token, key, options)).payload);
      } catch (error) {
        if (!(error instanceof errors.JWSSignatureVerificationFailed)) throw toHeraldError(error);
      }
    }
    throw new HeraldError('token_signature_invalid');
  }
}

/** The token from `Authorization: Bearer …` (scheme case-insensitive), else the query one, else ''. */
export function tokenFromRequest(authorization: string, queryToken: string): string {
  if (authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === 'bearer ') {
    const token = authorization.slice(7).trim();
    if (token !== '') return token;
  }
  return queryToken;
}

/** ms until exp (Infinity when no exp); used to end subscriptions when a token expires mid-stream */
export function msUntilExpiry(claims: Claims, nowMs: number): number {
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return Infinity;
  return Math.max(0, exp * 1000 - nowMs);
}

function keyResolver(
  secret: Uint8Array | null,
  pemKeys: ReadonlyMap<string, CryptoKey> | null,
  jwks: JwksLookup | null,
): JWTVerifyGetKey {
  // jose has already refused algorithms outside jwt.algorithms before calling this.
  return async (header, token) => {
    const alg = header.alg ?? '';
    if (HMAC_ALG.test(alg)) {
      if (secret !== null) return secret;
    } else if (jwks !== null) {
      return jwks(header, token);
    } else {
      const key = pemKeys?.get(alg);
      if (key !== undefined) return key;
    }
    throw new HeraldError('token_signature_invalid', `no key is configured for ${alg}`);
  };
}

/** Maps jose's error classes to Herald codes; anything else is a bug and is rethrown as is. */
function toHeraldError(error: unknown): unknown {
  if (isHeraldError(error)) return error;
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new HeraldError('token_algorithm_denied');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new HeraldError('token_signature_invalid');
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new HeraldError('token_signature_invalid', 'no key in the key set matches the token');
  }
  if (error instanceof errors.JWTExpired) return new HeraldError('token_expired');
  if (error instanceof errors.JWTClaimValidationFailed) return claimError(error.claim, error.reason);
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return new HeraldError('token_invalid');
  }
  return error;
}

function claimError(claim: string, reason: string): HeraldError {
  if (reason === 'invalid') return new HeraldError('token_invalid', `${claim} claim has the wrong type`);
  if (claim === 'nbf' && reason === 'check_failed') return new HeraldError('token_not_yet_valid');
  if (reason === 'missing') return new HeraldError('token_claim_invalid', `${claim} claim is missing`);
  if (claim === 'iss' || claim === 'aud') return new HeraldError('token_claim_invalid', `${claim} does not match`);
  return new HeraldError('token_claim_invalid', `${claim} claim is not valid`);
}

/** `sub` is compared with channel parameters: a non-string one would compare by accident. */
function checkClaimTypes(payload: Record<string, unknown>): Claims {
  if (payload['sub'] !== undefined && typeof payload['sub'] !== 'string') {
    throw new HeraldError('token_invalid', 'sub claim has the wrong type');
  }
  return payload as Claims;
}

async function readKnobFile(file: string, knob: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot read ${knob} (${file}): ${reason}`, { cause: error });
  }
}

async function loadPemKeys(file: string, algorithms: readonly string[]): Promise<ReadonlyMap<string, CryptoKey>> {
  const text = await readKnobFile(file, 'jwt.publicKeyFile');
  const isCertificate = text.includes('-----BEGIN CERTIFICATE-----');
  if (!isCertificate && !text.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new Error(`jwt.publicKeyFile (${file}) must hold a PEM "PUBLIC KEY" (SPKI) or "CERTIFICATE" block`);
  }
  // A PEM key carries no algorithm: import it once per allowed one it fits (RSA → RS*/PS*, P-256 → ES256).
  const keys = new Map<string, CryptoKey>();
  const refusals: string[] = [];
  for (const alg of algorithms) {
    try {
      keys.set(alg, isCertificate ? await importX509(text, alg) : await importSPKI(text, alg));
    } catch (error) {
      refusals.push(`${alg}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (keys.size === 0) {
    const tried = algorithms.length === 0 ? 'jwt.algorithms lists no asymmetric algorithm' : refusals.join('; ');
    throw new Error(`jwt.publicKeyFile (${file}) fits none of jwt.algorithms (${tried})`);
  }
  return keys;
}

async function loadJwks(file: string): Promise<JwksLookup> {
  const text = await readKnobFile(file, 'jwt.jwksFile');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`jwt.jwksFile (${file}) is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(`jwt.jwksFile (${file}) must be a JSON object with a "keys" array`);
  if (keys.some((key: unknown) => typeof key === 'object' && key !== null && ('d' in key || 'k' in key))) {
    throw new Error(`jwt.jwksFile (${file}) holds private or secret key material: publish only public keys`);
  }
  try {
    return createLocalJWKSet({ keys });
  } catch (error) {
    throw new Error(`jwt.jwksFile (${file}) is not a valid JSON Web Key Set: ${(error as Error).message}`, { cause: error });
  }
}
