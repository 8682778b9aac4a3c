/**
 * Sign real test tokens with jose, with the committed fixture keys (test/fixtures/jwt).
 * Times are explicit (seconds since epoch) so tests pass `nowMs` to verify and read no clock.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { base64url, importPKCS8, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import type { JwtConfig } from '../../src/config/types.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/jwt/', import.meta.url));
export const RSA_PUBLIC_PEM = `${FIXTURES}rsa-public.pem`;
export const EC_PUBLIC_PEM = `${FIXTURES}ec-public.pem`;
export const JWKS_FILE = `${FIXTURES}jwks.json`;
export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long';

/** A fixed "now" for tokens and verification: 2023-11-14T22:13:20Z. */
export const NOW_S = 1_700_000_000;
export const NOW_MS = NOW_S * 1000;

export function jwtConfig(overrides: Partial<JwtConfig> = {}): JwtConfig {
  return {
    algorithms: ['HS256', 'RS256', 'ES256'],
    secret: '',
    publicKeyFile: '',
    jwksFile: '',
    issuer: '',
    audience: '',
    requireExp: true,
    maxLifetimeMs: 0,
    ...overrides,
  };
}

export async function rsaPrivateKey(): Promise<CryptoKey> {
  return importPKCS8(readFileSync(`${FIXTURES}rsa-private.pem`, 'utf8'), 'RS256');
}

export async function ecPrivateKey(): Promise<CryptoKey> {
  return importPKCS8(readFileSync(`${FIXTURES}ec-private.pem`, 'utf8'), 'ES256');
}

export interface SignOptions {
  readonly alg: string;
  /** CryptoKey for RS/ES, or a string secret for HS. */
  readonly key: CryptoKey | string;
  readonly kid?: string;
  /** Default: NOW_S + 3600. Pass null for no exp claim. */
  readonly exp?: number | null;
}

export async function signToken(claims: JWTPayload, options: SignOptions): Promise<string> {
  const key = typeof options.key === 'string' ? new TextEncoder().encode(options.key) : options.key;
  const header = options.kid === undefined ? { alg: options.alg } : { alg: options.alg, kid: options.kid };
  const exp = options.exp === undefined ? NOW_S + 3600 : options.exp;
  const payload: JWTPayload = { iat: NOW_S, ...claims, ...(exp === null ? {} : { exp }) };
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

export function hsToken(claims: JWTPayload, exp?: number | null): Promise<string> {
  return signToken(claims, { alg: 'HS256', key: TEST_SECRET, ...(exp === undefined ? {} : { exp }) });
}

/** `alg: none`: header.payload. with an empty signature (RFC 7519 §6.1). */
export function unsecuredToken(claims: JWTPayload): string {
  const part = (value: object): string => base64url.encode(JSON.stringify(value));
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iat: NOW_S, exp: NOW_S + 3600, ...claims })}.`;
}

/** Flip one character of the signature, keeping it valid base64url. */
export function tamper(token: string): string {
  const last = token.charAt(token.length - 2);
  return `${token.slice(0, -2)}${last === 'A' ? 'B' : 'A'}${token.slice(-1)}`;
}
