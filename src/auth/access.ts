/**
 * Channel access and publish decisions. Pure: no I/O, no clock. Token verification happens
 * before (jwt.ts); this module only reads verified claims.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PublishKeyConfig, RuleConfig } from '../config/types.js';
import { HeraldError } from '../errors.js';
import type { Claims } from './jwt.js';

/**
 * The part of a router `Route` that access decisions read. Structural, so `Route` from
 * `rules/router.ts` fits it and tests can build one by hand.
 */
export interface AccessRoute {
  readonly channel: string;
  readonly rule: RuleConfig;
  readonly params: Readonly<Record<string, string>>;
}

/** One condition of a token rule, evaluated: `label` names it in config terms. */
export interface ConditionResult {
  readonly label: string;
  readonly passed: boolean;
  /** Why it failed (or passed), safe to show: parameter names, never token contents. */
  readonly reason: string;
}

/** null = allowed. public → allowed; token rule and no claims → token_missing; conditions fail → token_forbidden. */
export function checkAccess(route: AccessRoute, claims: Claims | null): HeraldError | null {
  const access = route.rule.access;
  if (access.kind === 'public') return null;
  if (claims === null) return new HeraldError('token_missing');
  for (const condition of evaluateConditions(route, claims)) {
    if (!condition.passed) return new HeraldError('token_forbidden', condition.reason);
  }
  return null;
}

/**
 * Every configured condition of a token rule (they all must pass). A token rule with none
 * admits any verified token. Empty for public rules.
 */
export function evaluateConditions(route: AccessRoute, claims: Claims): ConditionResult[] {
  const access = route.rule.access;
  if (access.kind === 'public') return [];
  const results: ConditionResult[] = [];
  if (access.subParam !== null) results.push(subCondition(route, access.subParam, claims));
  if (access.claimContains !== null) results.push(containsCondition(route, access.claimContains, claims));
  if (access.channelsClaim) results.push(channelsCondition(route, claims));
  return results;
}

function subCondition(route: AccessRoute, param: string, claims: Claims): ConditionResult {
  const label = `sub == {${param}}`;
  const value = route.params[param];
  if (value === undefined) return { label, passed: false, reason: `pattern has no parameter {${param}}` };
  if (typeof claims.sub !== 'string') return { label, passed: false, reason: 'token has no sub claim' };
  return claims.sub === value
    ? { label, passed: true, reason: `sub equals {${param}}` }
    : { label, passed: false, reason: `sub does not equal {${param}}` };
}

function containsCondition(
  route: AccessRoute,
  rule: { readonly claim: string; readonly param: string },
  claims: Claims,
): ConditionResult {
  const label = `${rule.claim} contains {${rule.param}}`;
  const value = route.params[rule.param];
  if (value === undefined) return { label, passed: false, reason: `pattern has no parameter {${rule.param}}` };
  const list = claims[rule.claim];
  if (!Array.isArray(list)) return { label, passed: false, reason: `token has no ${rule.claim} array claim` };
  // Numeric ids in a claim array ([12, 15]) match the channel's text parameter "12".
  const found = list.some((item: unknown) => (typeof item === 'string' || typeof item === 'number') && String(item) === value);
  return found
    ? { label, passed: true, reason: `${rule.claim} contains {${rule.param}}` }
    : { label, passed: false, reason: `${rule.claim} does not contain {${rule.param}}` };
}

function channelsCondition(route: AccessRoute, claims: Claims): ConditionResult {
  const label = 'channels claim lists the channel';
  const list = claims['channels'];
  if (!Array.isArray(list)) return { label, passed: false, reason: 'token has no channels array claim' };
  const entry = list.find((item: unknown) => typeof item === 'string' && globMatch(item, route.channel));
  return entry === undefined
    ? { label, passed: false, reason: 'channels claim does not list this channel' }
    : { label, passed: true, reason: `channels claim entry "${String(entry)}" matches` };
}

/**
 * `*` matches any run of characters (including `:` and none); everything else is literal.
 * Linear scan over the literal pieces, no RegExp: globs come from tokens (client input).
 */
export function globMatch(glob: string, channel: string): boolean {
  const pieces = glob.split('*');
  const first = pieces[0] ?? '';
  if (pieces.length === 1) return glob === channel;
  const last = pieces[pieces.length - 1] ?? '';
  if (channel.length < first.length + last.length) return false;
  if (!channel.startsWith(first) || !channel.endsWith(last)) return false;
  let at = first.length;
  const end = channel.length - last.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i] ?? '';
    const found = channel.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

const keyDigests = new WeakMap<readonly PublishKeyConfig[], readonly Buffer[]>();

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * A rule's `publish` list (channel globs) narrows which of its channels take POST /publish at
 * all, from a key or from loopback; empty: every channel of the rule. null = accepted.
 */
export function ruleAcceptsPublish(route: AccessRoute): HeraldError | null {
  const globs = route.rule.publishScopes;
  if (globs.length === 0 || globs.some((glob) => globMatch(glob, route.channel))) return null;
  return new HeraldError('publish_forbidden', 'the channel rule\'s `publish` list does not include this channel');
}

/**
 * null = allowed. Unknown or missing key → publish_unauthorized. One of the key's scopes
 * (channel globs) must match the channel, and the rule must accept publishing on it
 * (ruleAcceptsPublish) → else publish_forbidden.
 */
export function publishAllowed(keys: readonly PublishKeyConfig[], presentedKey: string, route: AccessRoute): HeraldError | null {
  if (presentedKey === '') return new HeraldError('publish_unauthorized');
  let digests = keyDigests.get(keys);
  if (digests === undefined) {
    digests = keys.map((k) => sha256(k.key));
    keyDigests.set(keys, digests);
  }
  // Equal-length digests make timingSafeEqual applicable; every key is compared, so timing
  // does not reveal which one (or whether one) matched.
  const presented = sha256(presentedKey);
  let matched: PublishKeyConfig | undefined;
  for (let i = 0; i < keys.length; i++) {
    const digest = digests[i];
    if (digest !== undefined && timingSafeEqual(digest, presented) && matched === undefined) matched = keys[i];
  }
  if (matched === undefined) return new HeraldError('publish_unauthorized');
  const scopes = matched.scopes;
  if (!scopes.some((scope) => globMatch(scope, route.channel))) {
    return new HeraldError('publish_forbidden', 'no scope of this key matches the channel');
  }
  return ruleAcceptsPublish(route);
}
