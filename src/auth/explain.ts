/**
 * `herald check-access`: the same decision a subscribe makes (route, verify, checkAccess),
 * told step by step for an operator. The token itself is never printed; its claims may be,
 * since the operator supplied it.
 */
import type { AccessRule } from '../config/types.js';
import { isHeraldError, type HeraldError } from '../errors.js';
import type { Router } from '../rules/router.js';
import { checkAccess, evaluateConditions } from './access.js';
import { msUntilExpiry, type Claims, type TokenVerifier } from './jwt.js';

export interface AccessExplanation {
  readonly allowed: boolean;
  readonly lines: string[];
}

export async function explainAccess(
  router: Pick<Router, 'route'>,
  verifier: TokenVerifier,
  channel: string,
  token: string,
  nowMs: number,
): Promise<AccessExplanation> {
  const lines = [`channel: ${channel}`];
  const route = router.route(channel);
  if (isHeraldError(route)) {
    lines.push(route.code === 'channel_denied' ? 'rule: none matches (default deny)' : `rule: not tried (${describe(route)})`);
    return deny(lines, route);
  }
  lines.push(`rule: ${route.rule.pattern} (${describeAccess(route.rule.access)})`);
  lines.push(`redis channel: ${route.redisChannel}`);
  const params = Object.entries(route.params).map(([name, value]) => `${name}=${value}`);
  lines.push(`params: ${params.length === 0 ? 'none' : params.join(', ')}`);

  let claims: Claims | null = null;
  if (token === '') {
    lines.push('token: none given');
  } else {
    const verified = await verifier.verify(token, nowMs).then(
      (result): Claims | HeraldError => result,
      (error: unknown): Claims | HeraldError => {
        if (isHeraldError(error)) return error;
        throw error;
      },
    );
    if (isHeraldError(verified)) {
      lines.push(`token: refused (${describe(verified)})`);
      if (route.rule.access.kind === 'token') return deny(lines, verified);
    } else {
      claims = verified;
      lines.push(`token: valid (${describeClaims(claims, nowMs)})`);
    }
  }

  if (route.rule.access.kind === 'public') {
    lines.push('access: public, no token needed');
  } else if (claims !== null) {
    const conditions = evaluateConditions(route, claims);
    if (conditions.length === 0) lines.push('conditions: none (any valid token)');
    for (const condition of conditions) {
      lines.push(`condition ${condition.label}: ${condition.passed ? 'passed' : 'FAILED'} (${condition.reason})`);
    }
  }
  const decision = checkAccess(route, claims);
  if (decision !== null) return deny(lines, decision);
  lines.push('allowed');
  return { allowed: true, lines };
}

function deny(lines: string[], error: HeraldError): AccessExplanation {
  lines.push(`denied: ${describe(error)}`);
  return { allowed: false, lines };
}

function describe(error: HeraldError): string {
  return `${error.code}: ${error.message}`;
}

function describeAccess(access: AccessRule): string {
  if (access.kind === 'public') return 'public';
  const conditions: string[] = [];
  if (access.subParam !== null) conditions.push(`sub == {${access.subParam}}`);
  if (access.claimContains !== null) conditions.push(`${access.claimContains.claim} contains {${access.claimContains.param}}`);
  if (access.channelsClaim) conditions.push('channels claim lists the channel');
  return conditions.length === 0 ? 'token required' : `token required; ${conditions.join(' and ')}`;
}

function describeClaims(claims: Claims, nowMs: number): string {
  const parts = [claims.sub === undefined ? 'no sub' : `sub=${claims.sub}`];
  const ms = msUntilExpiry(claims, nowMs);
  parts.push(ms === Infinity ? 'no exp' : `expires in ${Math.round(ms / 1000)}s`);
  return parts.join(', ');
}
