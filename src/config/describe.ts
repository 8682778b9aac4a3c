import type { AccessRule, BrokerConfig, ClientClassConfig, Config, HostPort, RuleConfig } from './types.js';
import { formatDuration, formatSize } from './units.js';

/**
 * The compiled config as `herald check-config` prints it: what a channel resolves to and how
 * each client class is treated, in the order rules are tried. Secrets (API keys, the JWT
 * secret, a password in the Redis URL) are never printed, only whether they are set.
 */

function redactUrl(url: string): string {
  if (!URL.canParse(url)) return '(invalid url)';
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

const addrs = (nodes: readonly HostPort[]): string => nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(', ');

/** Which Redis topology, and for a cluster the pub/sub mode and the command apps publish with. */
function describeTarget(broker: BrokerConfig): string {
  const auth = (): string => {
    const url = URL.canParse(broker.url) ? new URL(broker.url) : null;
    const parts = [url?.protocol === 'rediss:' ? 'TLS' : '', url !== null && url.password !== '' ? 'password set' : ''].filter((p) => p !== '');
    return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
  };
  if (broker.kind === 'cluster') {
    const how = broker.cluster.mode === 'sharded' ? 'SSUBSCRIBE per shard master, apps SPUBLISH' : 'SUBSCRIBE on one node, apps PUBLISH';
    return `redis cluster, mode ${broker.cluster.mode} (${how}); seeds ${addrs(broker.cluster.nodes)}${auth()}`;
  }
  if (broker.kind === 'sentinel') return `redis sentinel, master ${broker.sentinel.masterName}; sentinels ${addrs(broker.sentinel.nodes)}${auth()}`;
  return `redis ${redactUrl(broker.url)}`;
}

function describeAccess(access: AccessRule): string {
  if (access.kind === 'public') return 'public';
  const checks: string[] = [];
  if (access.subParam !== null) checks.push(`sub = {${access.subParam}}`);
  if (access.claimContains !== null) checks.push(`${access.claimContains.claim} contains {${access.claimContains.param}}`);
  if (access.channelsClaim) checks.push('channels claim lists it');
  return checks.length === 0 ? 'token (any valid token)' : `token (${checks.join(', ')})`;
}

/** Where a rule's history lives: a durable channel needs Redis (docs/resume.md). */
function describeStore(rule: RuleConfig, broker: Config['broker']['kind']): string {
  if (rule.history.store !== 'redis') return '';
  if (broker === 'redis') return ' in a Redis Stream (durable: publish with FCALL herald_publish)';
  if (broker === 'memory') return ' in process (store: redis needs the redis broker; on the memory broker it is the in-process history)';
  return ` in process (durable channels need broker.type redis; not yet on ${broker})`;
}

function describeRule(rule: RuleConfig, index: number, broker: Config['broker']['kind']): string[] {
  const history = rule.history.size === 0 ? 'history off' : `history ${rule.history.size} messages / ${formatDuration(rule.history.maxAgeMs)}${describeStore(rule, broker)}`;
  const publish = rule.publishScopes.length === 0 ? 'any key whose scopes match' : `channels ${rule.publishScopes.join(', ')}, by keys whose scopes match`;
  return [
    `  ${index + 1}. ${rule.pattern}`,
    `       redis ${rule.redis}; ${rule.payload}; ${history}; linger ${formatDuration(rule.lingerMs)}; batch delay ${formatDuration(rule.batchDelayMs)}`,
    `       access ${describeAccess(rule.access)}; publish: ${publish}`,
  ];
}

function describeClass(c: ClientClassConfig, width: number): string {
  const match = c.userAgent === '' ? '(no User-Agent match)' : `User-Agent /${c.userAgent}/i`;
  const times = [
    `lifetime ${formatDuration(c.lifetimeMs)}`,
    `poll hold ${formatDuration(c.pollHoldMs)}`,
    `heartbeat ${formatDuration(c.heartbeatMs)}`,
    `idle ${formatDuration(c.idleMs)}`,
  ].join(', ');
  return `  ${c.name.padEnd(width)}  ${match}; ${times}`;
}

export function describeConfig(config: Config): string {
  const { broker, classes, limits, publish, jwt } = config;
  const brokerLine =
    broker.kind === 'memory'
      ? 'memory (in-process)'
      : `${describeTarget(broker)}; probe every ${formatDuration(broker.probeIntervalMs)} (timeout ${formatDuration(broker.probeTimeoutMs)}); ` +
        `reconnect ${formatDuration(broker.reconnectMinMs)}..${formatDuration(broker.reconnectMaxMs)}`;
  const width = Math.max(0, ...classes.list.map((c) => c.name.length));
  const keyMaterial = [jwt.secret !== '' ? 'secret set' : '', jwt.publicKeyFile !== '' ? `public key ${jwt.publicKeyFile}` : '', jwt.jwksFile !== '' ? `JWKS ${jwt.jwksFile}` : '']
    .filter((s) => s !== '')
    .join(', ');
  const lines = [
    `Config: ${config.file === '' ? 'embedded defaults' : config.file}`,
    `Server: ${config.server.host}:${config.server.port}${config.server.trustedIpHeader === '' ? '' : ` (client IP from ${config.server.trustedIpHeader})`}`,
    `Broker: ${brokerLine}; default linger ${formatDuration(broker.lingerMs)}`,
    `Channel rules (first match wins; any other channel is denied):`,
    ...(config.channels.length === 0 ? ['  (none: every channel is denied)'] : config.channels.flatMap((rule, i) => describeRule(rule, i, config.broker.kind))),
    `Client classes (?${classes.param}=NAME picks one; else the first User-Agent match; else ${classes.defaultClass}):`,
    ...classes.list.map((c) => describeClass(c, width)),
    `Limits: buffer ${formatSize(limits.maxBufferedBytes)}/connection, message ${formatSize(limits.maxMessageBytes)}, ` +
      `frame ${formatSize(limits.maxFrameBytes)}, publish body ${formatSize(limits.maxPublishBodyBytes)}, ` +
      `${limits.maxSubscriptionsPerConnection} subscriptions/connection, channel name ${limits.maxChannelLength} chars, ` +
      `${limits.maxConnectionsPerIp === 0 ? 'unlimited' : limits.maxConnectionsPerIp} connections/IP, poll batch ${limits.pollBatchSize}, ` +
      `${limits.maxBadFrames} bad frames`,
    `Publish: ${publish.enabled ? 'enabled' : 'disabled'}; loopback ${publish.allowLoopback ? 'allowed without a key' : 'needs a key'}; ` +
      `${publish.keys.length} key(s)${publish.keys.map((k, i) => ` [#${i + 1} scopes ${k.scopes.join(', ')}]`).join('')}`,
    `JWT: ${jwt.algorithms.join(', ')}; ${keyMaterial === '' ? 'no key material' : keyMaterial}` +
      `${jwt.issuer === '' ? '' : `; issuer ${jwt.issuer}`}${jwt.audience === '' ? '' : `; audience ${jwt.audience}`}`,
    `CORS: ${config.cors.origins.length === 0 ? 'off' : config.cors.origins.join(', ')}${config.cors.credentials ? ' (credentials)' : ''}`,
    `Metrics: ${config.metrics.enabled ? (config.metrics.listen === '' ? 'on the main port' : `on ${config.metrics.listen}`) : 'off'}` +
      `${config.metrics.allow.length === 0 ? '' : `; allowed from ${config.metrics.allow.join(', ')}`}`,
    `Drain: deadline ${formatDuration(config.drain.deadlineMs)}, spread over ${formatDuration(config.drain.windowMs)}; SSE retry ${formatDuration(config.sse.retryMs)}`,
    `Log level: ${config.log.level}`,
  ];
  return lines.join('\n') + '\n';
}
