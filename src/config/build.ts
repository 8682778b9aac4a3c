import { allowEntryProblem } from '../net/address-allow.js';
import { compilePattern, templateParams } from '../rules/pattern.js';
import type { AccessRule, BrokerKind, ClientClassConfig, ClusterMode, HostPort, Config, HistoryConfig, LogLevel, PayloadKind, RuleConfig } from './types.js';
import { knobName, type ConfigDraft, type ConfigIssue, type Origin } from './validate.js';

/**
 * The second half of validation: checks that span several keys (pattern syntax, template and
 * access parameters, class names, URLs, ordering of limits), reported at the origin of the
 * offending value, then the typed Config in base units, deep-frozen. Split from validate.ts
 * (which walks YAML nodes) so each stays one concept; it needs no YAML, only the draft.
 */

/** Typed reads of the draft plus issue reporting at the origin of a dotted path. */
class DraftReader {
  constructor(readonly draft: ConfigDraft) {}

  get(path: string): unknown {
    let value: unknown = this.draft.raw;
    for (const key of path.split('.')) {
      value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    }
    return value;
  }
  str(path: string): string {
    const v = this.get(path);
    return typeof v === 'string' ? v : '';
  }
  num(path: string): number | undefined {
    const v = this.get(path);
    return typeof v === 'number' ? v : undefined;
  }
  bool(path: string): boolean {
    return this.get(path) === true;
  }
  strs(path: string): string[] {
    const v = this.get(path);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  }
  count(path: string): number {
    const v = this.get(path);
    return Array.isArray(v) ? v.length : 0;
  }
  /** Where a path was written, or its nearest written ancestor. */
  originOf(path: string): Origin {
    const parts = path.split('.');
    for (; parts.length > 0; parts.pop()) {
      const origin = this.draft.origins.get(parts.join('.'));
      if (origin !== undefined) return origin;
    }
    return { file: this.draft.file, line: 1, col: 1 };
  }
  fail(path: string, message: string, severity: ConfigIssue['severity'] = 'error'): void {
    this.draft.issues.push({ ...this.originOf(path), severity, message });
  }
}

const knob = (path: string): string => knobName(path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)));
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function buildAccess(d: DraftReader, p: string, params: readonly string[] | null, hasJwtKey: boolean): AccessRule {
  const access = d.get(`${p}.access`);
  if (!d.draft.origins.has(`${p}.access`) && d.draft.origins.has(p) && d.str(`${p}.pattern`) !== '') {
    // Default deny: a rule that forgot `access` must not make its channels public.
    d.fail(p, `access is required: say who may subscribe (\`access: public\`, \`access: token\` or \`access: { token: … }\`) (${knob(p)}.access)`);
  }
  if (access === undefined || access === 'public') return { kind: 'public' };
  const t = `${p}.access.token`;
  const isMapForm = access !== 'token';
  const subParam = isMapForm && d.str(`${t}.sub`) !== '' ? d.str(`${t}.sub`) : null;
  const claim = d.str(`${t}.claimContains.claim`);
  const claimContains = isMapForm && claim !== '' ? { claim, param: d.str(`${t}.claimContains.param`) } : null;
  const checks: [string | undefined | null, string][] = [[subParam, 'sub'], [claimContains?.param, 'claimContains.param']];
  for (const [name, key] of checks) {
    if (params !== null && name != null && name !== '' && !params.includes(name)) {
      d.fail(`${t}.${key}`, `${key.split('.').pop() ?? key} names \`${name}\`, which the pattern does not define (${knob(`${t}.${key}`)})`);
    }
  }
  const tokenGiven = !isMapForm || d.draft.origins.has(t);
  if (!hasJwtKey && tokenGiven) d.fail(`${p}.access`, `token access needs jwt.secret, jwt.publicKeyFile or jwt.jwksFile (${knob(p)}.access)`);
  return { kind: 'token', subParam, claimContains, channelsClaim: isMapForm && d.bool(`${t}.channelsClaim`) };
}

function buildRule(d: DraftReader, p: string, hasJwtKey: boolean): RuleConfig {
  const pattern = d.str(`${p}.pattern`);
  let params: readonly string[] | null = null;
  if (pattern !== '') {
    try {
      params = compilePattern(pattern).params;
    } catch (err) {
      d.fail(`${p}.pattern`, `pattern ${messageOf(err)} (${knob(p)}.pattern)`);
    }
  }
  const template = d.str(`${p}.redis`);
  if (params !== null && template !== '') {
    try {
      for (const name of templateParams(template)) {
        if (!params.includes(name)) d.fail(`${p}.redis`, `redis template uses \`{${name}}\`, which the pattern does not define (${knob(p)}.redis)`);
      }
    } catch (err) {
      d.fail(`${p}.redis`, `redis template ${messageOf(err)} (${knob(p)}.redis)`);
    }
  }
  return {
    pattern,
    redis: template === '' ? pattern : template,
    payload: (d.get(`${p}.payload`) ?? d.get('defaults.payload')) as PayloadKind,
    history: {
      size: d.num(`${p}.history.size`) ?? d.num('defaults.history.size') ?? 0,
      maxAgeMs: d.num(`${p}.history.maxAge`) ?? d.num('defaults.history.maxAge') ?? 0,
      store: (d.get(`${p}.history.store`) ?? d.get('defaults.history.store') ?? 'memory') as HistoryConfig['store'],
    },
    lingerMs: d.num(`${p}.linger`) ?? d.num('broker.linger') ?? 0,
    batchDelayMs: d.num(`${p}.batchDelay`) ?? d.num('defaults.batchDelay') ?? 0,
    access: buildAccess(d, p, params, hasJwtKey),
    publishScopes: d.strs(`${p}.publish`),
  };
}

function buildClasses(d: DraftReader): ClientClassConfig[] {
  if (d.count('classes.list') === 0) d.fail('classes.list', 'list must contain at least one class (classes.list)');
  const names = new Set<string>();
  const list = Array.from({ length: d.count('classes.list') }, (_, i): ClientClassConfig => {
    const p = `classes.list.${i}`;
    const name = d.str(`${p}.name`);
    if (name !== '' && names.has(name)) d.fail(`${p}.name`, `duplicate class name \`${name}\` (${knob(p)}.name)`);
    names.add(name);
    const userAgent = d.str(`${p}.userAgent`);
    try {
      if (userAgent !== '') new RegExp(userAgent, 'i');
    } catch (err) {
      d.fail(`${p}.userAgent`, `userAgent is not a valid regular expression: ${messageOf(err)} (${knob(p)}.userAgent)`);
    }
    const ms = (key: string): number => d.num(`${p}.${key}`) ?? 0;
    return { name, userAgent, lifetimeMs: ms('lifetime'), pollHoldMs: ms('pollHold'), heartbeatMs: ms('heartbeat'), idleMs: ms('idle') };
  });
  const defaultClass = d.str('classes.default');
  if (defaultClass !== '' && list.length > 0 && !names.has(defaultClass)) {
    d.fail('classes.default', `default \`${defaultClass}\` is not a class in classes.list (classes.default)`);
  }
  return list;
}

/** "host:port" (IPv6 in brackets) → parts, or null. */
function parseHostPort(addr: string): HostPort | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(addr);
  if (m === null || Number(m[3]) === 0 || Number(m[3]) > 65_535) return null;
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

const hostPorts = (addrs: readonly string[]): HostPort[] => addrs.map((a) => parseHostPort(a)).filter((hp) => hp !== null);

function checkSections(d: DraftReader): void {
  const url = d.str('broker.url');
  const isRedisUrl = URL.canParse(url) && ['redis:', 'rediss:'].includes(new URL(url).protocol);
  const type = d.get('broker.type');
  if (type !== 'memory' && !isRedisUrl) d.fail('broker.url', 'url must be a redis:// or rediss:// URL (broker.url)');
  for (const [kind, list] of [['cluster', 'broker.cluster.nodes'], ['sentinel', 'broker.sentinel.nodes']] as const) {
    if (type === kind && d.count(list) === 0) d.fail(list, `type ${kind} needs at least one host:port in ${list.slice(7)} (${list})`);
    d.strs(list).forEach((addr, i) => {
      if (parseHostPort(addr) === null) d.fail(`${list}.${i}`, `\`${addr}\` is not host:port (${list})`);
    });
  }
  if (type === 'sentinel' && d.str('broker.sentinel.masterName') === '') {
    d.fail('broker.sentinel.masterName', 'type sentinel needs the master name the sentinels monitor (broker.sentinel.masterName)');
  }
  if ((d.num('broker.reconnectMax') ?? 0) < (d.num('broker.reconnectMin') ?? 0)) {
    d.fail('broker.reconnectMax', 'reconnectMax must be at least reconnectMin (broker.reconnectMax)');
  }
  const listen = d.str('metrics.listen');
  const m = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(listen);
  if (listen !== '' && (m === null || Number(m[1]) > 65_535)) d.fail('metrics.listen', 'listen must be host:port, or empty for the main port (metrics.listen)');
  const allow = d.strs('metrics.allow');
  for (let i = 0; i < allow.length; i++) {
    const problem = allowEntryProblem(allow[i]!);
    if (problem !== null) d.fail(`metrics.allow.${i}`, `${problem} (metrics.allow)`);
  }
  if ((d.num('drain.window') ?? 0) > (d.num('drain.deadline') ?? 0)) d.fail('drain.window', 'window must not exceed deadline (drain.window)');
  const keys = new Set<string>();
  for (let i = 0; i < d.count('publish.keys'); i++) {
    const key = d.str(`publish.keys.${i}.key`);
    if (key !== '' && keys.has(key)) d.fail(`publish.keys.${i}.key`, `key repeats an earlier key (publish.keys[${i}].key)`);
    keys.add(key);
  }
}

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** A short secret can be brute-forced offline from one token; a NUL often means a truncated value. */
function checkSecret(d: DraftReader): void {
  const secret = d.str('jwt.secret');
  if (secret === '') return;
  // Never echo the secret: only its length and what it needs.
  if (secret.includes('\0')) d.fail('jwt.secret', 'secret contains a NUL byte (jwt.secret)');
  const bytes = Buffer.byteLength(secret, 'utf8');
  const needs = d.strs('jwt.algorithms').filter((alg) => HMAC_MIN_BYTES[alg] !== undefined);
  const alg = needs.sort((a, b) => HMAC_MIN_BYTES[b]! - HMAC_MIN_BYTES[a]!)[0] ?? 'HS256';
  const min = HMAC_MIN_BYTES[alg]!;
  if (bytes < min) {
    d.fail('jwt.secret', `secret is ${bytes} bytes; ${alg} needs at least ${min} random bytes (jwt.secret)`);
  }
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Cross-field checks, then the typed Config. Returns null when the draft holds any error
 * (all of them are in `draft.issues`); warnings alone do not stop it.
 */
export function finishConfig(draft: ConfigDraft, file: string): Config | null {
  const d = new DraftReader(draft);
  // An invalid value (undefined) was already reported: do not cascade into "no key" errors.
  const hasJwtKey = ['jwt.secret', 'jwt.publicKeyFile', 'jwt.jwksFile'].some((p) => d.get(p) !== '');
  const channels = Array.from({ length: d.count('channels') }, (_, i) => buildRule(d, `channels.${i}`, hasJwtKey));
  const classes = buildClasses(d);
  checkSections(d);
  checkSecret(d);
  if (draft.issues.some((issue) => issue.severity === 'error')) return null;
  const n = (path: string): number => d.num(path) ?? 0;
  return deepFreeze<Config>({
    file,
    server: { host: d.str('server.host'), port: n('server.port'), reusePort: d.bool('server.reusePort'), trustedIpHeader: d.str('server.trustedIpHeader').toLowerCase() },
    broker: {
      kind: d.get('broker.type') as BrokerKind,
      url: d.str('broker.url'),
      cluster: { nodes: hostPorts(d.strs('broker.cluster.nodes')), mode: d.get('broker.cluster.mode') as ClusterMode },
      sentinel: { nodes: hostPorts(d.strs('broker.sentinel.nodes')), masterName: d.str('broker.sentinel.masterName') },
      lingerMs: n('broker.linger'),
      probeIntervalMs: n('broker.probeInterval'),
      probeTimeoutMs: n('broker.probeTimeout'),
      reconnectMinMs: n('broker.reconnectMin'),
      reconnectMaxMs: n('broker.reconnectMax'),
      probeChannel: d.str('broker.probeChannel'),
    },
    channels,
    classes: { param: d.str('classes.param'), defaultClass: d.str('classes.default'), list: classes },
    limits: {
      maxBufferedBytes: n('limits.maxBufferedBytes'),
      maxMessageBytes: n('limits.maxMessageBytes'),
      maxSubscriptionsPerConnection: n('limits.maxSubscriptionsPerConnection'),
      maxChannelLength: n('limits.maxChannelLength'),
      maxFrameBytes: n('limits.maxFrameBytes'),
      maxConnectionsPerIp: n('limits.maxConnectionsPerIp'),
      maxPublishBodyBytes: n('limits.maxPublishBodyBytes'),
      pollBatchSize: n('limits.pollBatchSize'),
      maxBadFrames: n('limits.maxBadFrames'),
      maxUrlBytes: n('limits.maxUrlBytes'),
      maxHeaderBytes: n('limits.maxHeaderBytes'),
    },
    publish: {
      enabled: d.bool('publish.enabled'),
      allowLoopback: d.bool('publish.allowLoopback'),
      keys: Array.from({ length: d.count('publish.keys') }, (_, i) => ({
        key: d.str(`publish.keys.${i}.key`),
        scopes: d.strs(`publish.keys.${i}.scopes`),
      })),
    },
    jwt: {
      algorithms: d.strs('jwt.algorithms'),
      secret: d.str('jwt.secret'),
      publicKeyFile: d.str('jwt.publicKeyFile'),
      jwksFile: d.str('jwt.jwksFile'),
      issuer: d.str('jwt.issuer'),
      audience: d.str('jwt.audience'),
      requireExp: d.bool('jwt.requireExp'),
      maxLifetimeMs: n('jwt.maxLifetime'),
    },
    cors: { origins: d.strs('cors.origins'), credentials: d.bool('cors.credentials') },
    metrics: { enabled: d.bool('metrics.enabled'), listen: d.str('metrics.listen'), allow: d.strs('metrics.allow') },
    drain: { deadlineMs: n('drain.deadline'), windowMs: n('drain.window') },
    sse: { retryMs: n('sse.retry') },
    livePage: { enabled: d.bool('livePage.enabled') },
    log: { level: d.get('log.level') as LogLevel },
  });
}
