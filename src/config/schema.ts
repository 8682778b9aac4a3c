/**
 * The single table of every YAML key: type, default, range and a one-line doc. `validate.ts`
 * walks it to check files, and the example-config test walks it to prove that
 * config/herald.example.yaml mentions every key. Defaults are written as they would be in
 * YAML (`5s`, `64kb`) and go through the same conversion as user values.
 * Keys are camelCase. Imports nothing.
 */

export type ScalarType = 'string' | 'int' | 'bool' | 'duration' | 'size' | 'enum';
export type YamlDefault = string | number | boolean | null | readonly YamlDefault[] | { readonly [key: string]: YamlDefault };

export interface ScalarSpec {
  readonly kind: 'scalar';
  readonly type: ScalarType;
  readonly doc: string;
  /** Absent with no default and not required: the value is inherited (see `doc`). */
  readonly default?: string | number | boolean;
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
  readonly nonEmpty?: boolean;
}
export interface ListSpec {
  readonly kind: 'list';
  readonly doc: string;
  readonly item: ScalarSpec | SectionSpec;
  readonly default: readonly YamlDefault[];
  readonly required?: boolean;
}
export interface SectionSpec {
  readonly kind: 'section';
  readonly doc: string;
  readonly fields: Readonly<Record<string, Spec>>;
  readonly required?: boolean;
}
/** Either one of the `values` words or a mapping shaped like `map` (used by `access`). */
export interface ChoiceSpec {
  readonly kind: 'choice';
  readonly doc: string;
  readonly values: readonly string[];
  readonly map: SectionSpec;
  readonly default?: string;
  readonly required?: boolean;
}
export type Spec = ScalarSpec | ListSpec | SectionSpec | ChoiceSpec;

const str = (doc: string, def = '', more: Partial<ScalarSpec> = {}): ScalarSpec => ({ kind: 'scalar', type: 'string', doc, default: def, ...more });
const int = (doc: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): ScalarSpec => ({ kind: 'scalar', type: 'int', doc, default: def, min, max });
const bool = (doc: string, def: boolean): ScalarSpec => ({ kind: 'scalar', type: 'bool', doc, default: def });
const dur = (doc: string, def: string | undefined, min = 1): ScalarSpec =>
  def === undefined ? { kind: 'scalar', type: 'duration', doc, min } : { kind: 'scalar', type: 'duration', doc, default: def, min };
const size = (doc: string, def: string | number, min = 1, max?: number): ScalarSpec =>
  max === undefined ? { kind: 'scalar', type: 'size', doc, default: def, min } : { kind: 'scalar', type: 'size', doc, default: def, min, max };
/** uWebSockets.js drops a request whose line and headers pass ~128 KiB before Herald sees it (docs/limits.md). */
const UWS_HEADER_BLOCK_BYTES = 120 * 1024;
const oneOf = (doc: string, values: readonly string[], def?: string): ScalarSpec =>
  def === undefined ? { kind: 'scalar', type: 'enum', doc, values } : { kind: 'scalar', type: 'enum', doc, values, default: def };
const section = (doc: string, fields: Record<string, Spec>, required = false): SectionSpec => ({ kind: 'section', doc, fields, required });
const strings = (doc: string, def: readonly string[] = [], required = false): ListSpec =>
  ({ kind: 'list', doc, item: str('', '', { nonEmpty: true }), default: def, required });

/** Top-level sections a SIGHUP reload does not apply (logged; they need a restart). */
export const RESTART_ONLY_SECTIONS = ['server', 'broker', 'metrics', 'log'] as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const historySpec = (inherit: boolean): SectionSpec =>
  section(inherit ? 'History for this rule; each key defaults to `defaults.history`.' : 'Default history per channel.', {
    size: inherit
      ? { kind: 'scalar', type: 'int', doc: 'Messages kept per channel; 0 disables history.', min: 0, max: 1_000_000 }
      : int('Messages kept per channel; 0 disables history (a resume is then a reset).', 100, 0, 1_000_000),
    maxAge: dur('Messages older than this are not replayed.', inherit ? undefined : '5m'),
    store: inherit
      ? oneOf('`memory` or `redis` (durable: a Redis Stream per channel, docs/resume.md); default `defaults.history.store`.', ['memory', 'redis'])
      : oneOf('`memory` (in-process ring) or `redis` (durable: a Redis Stream per channel, published with FCALL herald_publish; docs/resume.md). On the memory broker, `redis` is the in-process history.', ['memory', 'redis'], 'memory'),
  });

const accessSpec: ChoiceSpec = {
  kind: 'choice',
  doc: 'Required. `public` (anyone), `token` (any valid JWT) or a `token:` mapping with extra checks.',
  values: ['public', 'token'],
  map: section('Token access with checks.', {
    token: section('Checks on the verified JWT; all given checks must pass.', {
      sub: str('Pattern parameter that must equal the `sub` claim (e.g. `userId`); empty: no check.'),
      claimContains: {
        kind: 'section',
        doc: 'A claim (array) that must contain a pattern parameter\'s value.',
        required: false,
        fields: {
          claim: str('Claim name, e.g. `forums`.', '', { required: true, nonEmpty: true }),
          param: str('Pattern parameter, e.g. `forum`.', '', { required: true, nonEmpty: true }),
        },
      },
      channelsClaim: bool('The token\'s `channels` claim must list the channel (exact or glob).', false),
    }, true),
  }),
};

const ruleSpec = section('One channel rule.', {
  pattern: str('Client-facing pattern; `{param}` matches one segment (never spans `:`).', '', { required: true, nonEmpty: true }),
  redis: str('Redis channel template using the pattern\'s params; default: the pattern.'),
  payload: oneOf('`text` (forwarded verbatim) or `json` (validated, embedded raw); default `defaults.payload`.', ['text', 'json']),
  history: historySpec(true),
  linger: dur('Redis subscription outlives its last local subscriber this long; default `broker.linger`.', undefined, 0),
  batchDelay: dur('A stream (SSE, NDJSON) of this rule\'s channels written less than this long ago holds its next write until then (fixed when the stream opens); default `defaults.batchDelay`.', undefined, 0),
  access: accessSpec,
  publish: strings('Channel globs of this rule that take POST /publish (from a key whose scopes cover the channel, or loopback); empty: all.'),
});

const classSpec = section('One client class.', {
  name: str('Class name (used by `?client=` and in metrics).', '', { required: true, nonEmpty: true }),
  userAgent: str('Case-insensitive regular expression matched against User-Agent; empty: never matches.'),
  lifetime: dur('Streams (SSE, WS) end gracefully after this long; the client resumes.', '300s'),
  pollHold: dur('A long-poll with nothing to answer is held this long.', '55s', 0),
  heartbeat: dur('Keep-alive interval on idle streams.', '25s'),
  idle: dur('A WebSocket silent this long is closed.', '120s'),
});

export const SCHEMA: SectionSpec = section('Herald configuration.', {
  server: section('HTTP listener.', {
    host: str('Address to bind.', '127.0.0.1', { nonEmpty: true }),
    port: int('Port to bind; 0 picks a free one.', 8080, 0, 65_535),
    reusePort: bool('Share the port with other processes (SO_REUSEPORT), for a rolling restart on one port; `--workers` always shares.', false),
    trustedIpHeader: str('Header carrying the client IP when behind a trusted proxy; empty: socket address.'),
  }),
  broker: section('Where messages come from.', {
    type: oneOf('`memory` (single process), `redis` (one node), `cluster` (Redis Cluster) or `sentinel`.', ['memory', 'redis', 'cluster', 'sentinel'], 'memory'),
    url: str('Redis URL (redis:// or rediss://); default REDIS_URL or redis://127.0.0.1:6379. For cluster and sentinel only its user, password and TLS (rediss://) apply.', 'redis://127.0.0.1:6379', { nonEmpty: true }),
    cluster: section('Redis Cluster (`type: cluster`).', {
      nodes: strings('Seed nodes as host:port; the rest of the cluster is discovered from them.'),
      mode: oneOf('`sharded`: SSUBSCRIBE per shard master, apps SPUBLISH; `classic`: SUBSCRIBE on one node, apps PUBLISH.', ['sharded', 'classic'], 'sharded'),
    }),
    sentinel: section('Redis Sentinel (`type: sentinel`).', {
      nodes: strings('Sentinel addresses as host:port.'),
      masterName: str('Name of the master the sentinels monitor.'),
    }),
    linger: dur('Default time a Redis subscription outlives its last local subscriber.', '5s', 0),
    probeInterval: dur('How often a liveness probe is published on the subscriber link.', '3s'),
    probeTimeout: dur('A probe not seen back within this time means the link is dead.', '2s'),
    reconnectMin: dur('First reconnect delay.', '100ms'),
    reconnectMax: dur('Largest reconnect delay (backoff cap).', '5s'),
    probeChannel: str('Redis channel of the liveness probe (process id appended).', 'herald:probe', { nonEmpty: true }),
  }),
  defaults: section('Defaults for every channel rule.', {
    payload: oneOf('Payload kind of rules that do not say.', ['text', 'json'], 'text'),
    history: historySpec(false),
    batchDelay: dur('A stream (SSE, NDJSON) written less than this long ago holds its next write until this long has passed, so a busy stream gets its messages in fewer, larger writes; a quieter stream never waits. A stream on several channels takes the shortest; a reload applies to streams opened after it. 0: write every turn. WebSocket and long-poll are not delayed.', '10ms', 0),
  }),
  channels: {
    kind: 'list',
    doc: 'Ordered channel rules; the first match wins; a channel no rule matches is denied.',
    item: ruleSpec,
    default: [{ pattern: 'public:{name}', access: 'public' }],
  },
  classes: section('Client classes: timeouts per kind of client.', {
    param: str('Query parameter naming the class explicitly.', 'client', { nonEmpty: true }),
    default: str('Class used when nothing else matches.', 'desktop', { nonEmpty: true }),
    list: {
      kind: 'list',
      doc: 'Ordered; the first User-Agent match wins.',
      item: classSpec,
      default: [
        { name: 'mobile', userAgent: 'Mobile|Android|iPhone|iPad', lifetime: '30s', pollHold: '30s', heartbeat: '15s', idle: '60s' },
        { name: 'desktop', userAgent: '', lifetime: '300s', pollHold: '55s', heartbeat: '25s', idle: '120s' },
      ],
    },
  }),
  limits: section('Bounds on every client-controlled resource.', {
    maxBufferedBytes: size('Unsent bytes per connection before it is dropped as a slow consumer.', '1mb'),
    maxMessageBytes: size('Larger broker messages are dropped and counted.', '64kb'),
    maxSubscriptionsPerConnection: int('Channels one connection may subscribe to.', 64, 1),
    maxChannelLength: int('Longest channel name accepted.', 200, 1, 65_535),
    maxFrameBytes: size('Largest WebSocket frame accepted from a client.', '16kb'),
    maxConnectionsPerIp: int('Connections per client IP; 0 means unlimited.', 0, 0),
    maxPublishBodyBytes: size('Largest POST /publish body.', '64kb'),
    pollBatchSize: int('Most messages in one poll answer.', 100, 1),
    maxBadFrames: int('Malformed WebSocket frames tolerated before closing.', 20, 0),
    maxUrlBytes: size('Longest request path + query; longer: 414 url_too_long.', '32kb', 256, UWS_HEADER_BLOCK_BYTES),
    maxHeaderBytes: size('Longest value of a header Herald reads (Authorization, Last-Event-ID, …); longer: 431.', '16kb', 256, UWS_HEADER_BLOCK_BYTES),
  }),
  publish: section('POST /publish.', {
    enabled: bool('Serve POST /publish.', true),
    allowLoopback: bool('Loopback callers may publish without a key.', true),
    keys: {
      kind: 'list',
      doc: 'API keys (use `${ENV}` so secrets stay out of the file).',
      item: section('One API key.', {
        key: str('The API key a publisher presents to POST /publish (keep it in `${ENV}`).', '', { required: true, nonEmpty: true }),
        scopes: strings('Channel globs (`*` matches any run) this key may publish to.', [], true),
      }),
      default: [],
    },
  }),
  jwt: section('Token verification for `token` channels.', {
    algorithms: { kind: 'list', doc: 'Accepted JWT algorithms.', item: oneOf('', JWT_ALGORITHMS), default: ['HS256'] },
    secret: str('HMAC secret (use `${ENV}`).'),
    publicKeyFile: str('PEM public key file (RS/PS/ES/EdDSA).'),
    jwksFile: str('JWKS file.'),
    issuer: str('Required `iss`; empty: not checked.'),
    audience: str('Required `aud`; empty: not checked.'),
    requireExp: bool('Refuse tokens without `exp` (they would never expire). false: accept them.', true),
    maxLifetime: dur('Refuse tokens whose `exp` is further than this from now; 0: not checked.', '0s', 0),
  }),
  cors: section('Cross-origin access.', {
    origins: strings('Allowed origins; `*` allows any; empty: no CORS headers.'),
    credentials: bool('Send Access-Control-Allow-Credentials.', false),
  }),
  metrics: section('Prometheus /metrics.', {
    enabled: bool('Serve /metrics.', true),
    listen: str('`host:port` for a separate listener; empty: the main port.'),
    allow: strings('Who may scrape: `loopback`, `private` (RFC 1918, IPv6 ULA and link-local), `*` (anyone), IPs or CIDRs.', ['loopback', 'private']),
  }),
  drain: section('Graceful shutdown.', {
    deadline: dur('Hard limit for draining connections.', '20s', 0),
    window: dur('Disconnects are spread over this window (no reconnect storm).', '5s', 0),
  }),
  sse: section('Server-Sent Events.', {
    retry: dur('`retry:` hint sent at stream start.', '2s', 0),
  }),
  livePage: section('The live page at GET / (a demo of /client.js; docs/client.md).', {
    enabled: bool('Serve the live page: pick channels, watch messages, publish a test message (loopback POST /publish).', false),
  }),
  log: section('Logging.', {
    level: oneOf('trace, debug, info, warn, error or silent.', LOG_LEVELS, 'info'),
  }),
});

/** Every key path, with `[]` for list items: `server.host`, `channels[].access.token.sub`, … */
export function schemaKeyPaths(spec: Spec = SCHEMA, prefix = ''): string[] {
  const out: string[] = [];
  const fieldsOf = (s: Spec): Readonly<Record<string, Spec>> | null =>
    s.kind === 'section' ? s.fields : s.kind === 'choice' ? s.map.fields : s.kind === 'list' && s.item.kind === 'section' ? s.item.fields : null;
  const fields = fieldsOf(spec);
  if (fields === null) return out;
  const base = spec.kind === 'list' ? `${prefix}[]` : prefix;
  for (const [key, child] of Object.entries(fields)) {
    const path = base === '' ? key : `${base}.${key}`;
    out.push(path, ...schemaKeyPaths(child, path));
  }
  return out;
}

/** The spec at a dotted path of section keys (`server.port`), or null. */
export function specAt(path: string): Spec | null {
  let spec: Spec = SCHEMA;
  for (const key of path.split('.')) {
    if (spec.kind !== 'section') return null;
    const next: Spec | undefined = spec.fields[key];
    if (next === undefined) return null;
    spec = next;
  }
  return spec;
}
