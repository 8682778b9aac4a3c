import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { formatIssue, loadConfig, type ConfigOverrides } from '../../src/config/load.js';
import { describeConfig } from '../../src/config/describe.js';
import type { Config } from '../../src/config/types.js';

type Env = Record<string, string | undefined>;

/** Writes `text` to a fresh file and loads it; returns the formatted issues with the path as `F`. */
function check(t: { testdir(): string }, text: string, env: Env = {}, overrides: ConfigOverrides = {}): { config: Config | null; lines: string[] } {
  const file = join(t.testdir(), 'herald.yaml');
  writeFileSync(file, text);
  const { config, issues } = loadConfig({ file, env, overrides });
  return { config, lines: issues.map((issue) => formatIssue(issue).split(file).join('F')) };
}

// Each row: YAML text, and the exact issue lines expected (F = the file path).
const BROKEN: [string, string, string[]][] = [
  ['unknown key with suggestion', 'broker:\n  lingr: 5s\n', ['F:2:3: unknown key `lingr` in broker; did you mean `linger`?']],
  ['unknown top-level key', 'chanels: []\n', ['F:1:1: unknown key `chanels`; did you mean `channels`?']],
  ['snake_case suggests camelCase', 'defaults:\n  history:\n    max_age: 5m\n', ['F:3:5: unknown key `max_age` in defaults.history; did you mean `maxAge`?']],
  ['unknown key without suggestion', 'server:\n  colour: red\n', ['F:2:3: unknown key `colour` in server']],
  ['duration without unit', 'broker:\n  linger: 5\n', ['F:2:11: linger must be a duration like 5s (broker.linger)']],
  ['port out of range', 'server:\n  port: 70000\n', ['F:2:9: port must be between 0 and 65535 (server.port)']],
  ['integer expected', 'limits:\n  pollBatchSize: lots\n', ['F:2:18: pollBatchSize must be an integer (limits.pollBatchSize)']],
  ['size expected', 'limits:\n  maxFrameBytes: 16 kilobytes\n', ['F:2:18: maxFrameBytes must be a size like 64kb (limits.maxFrameBytes)']],
  ['size below minimum', 'limits:\n  maxMessageBytes: 0\n', ['F:2:20: maxMessageBytes must be at least 1 byte (limits.maxMessageBytes)']],
  ['duration above the timer limit', 'broker:\n  linger: 30d\n', ['F:2:11: linger must be at most 2147483647ms (broker.linger)']],
  ['duration below minimum', 'broker:\n  probeInterval: 0s\n', ['F:2:18: probeInterval must be at least 1ms (broker.probeInterval)']],
  ['enum', 'broker:\n  type: kafka\n', ['F:2:9: type must be one of memory, redis, cluster, sentinel (broker.type)']],
  ['boolean', 'publish:\n  enabled: yes\n', ['F:2:12: enabled must be true or false (publish.enabled)']],
  ['string expected', 'server:\n  host: [a]\n', ['F:2:9: host must be a string (quote it) (server.host)']],
  ['section expected', 'server: 5\n', ['F:1:9: server must be a mapping (server)']],
  ['list expected', 'cors:\n  origins: "*"\n', ['F:2:12: origins must be a list (cors.origins)']],
  ['root must be a mapping', '- server\n', ['F:1:1: the config must be a mapping of sections (server:, broker:, …)']],
  ['duplicate key', 'server:\n  port: 1\n  port: 2\n', ['F:3:3: duplicate key `port`; keys must be unique within a mapping']],
  ['one document only', 'server: {}\n---\nlog: {}\n', ['F:2:1: a config file holds one YAML document; remove the `---` separator']],
  ['aliases are checked as their target', 'server:\n  port: &p 70000\nlimits:\n  maxChannelLength: *p\n',
    ['F:2:12: port must be between 0 and 65535 (server.port)', 'F:4:21: maxChannelLength must be between 1 and 65535 (limits.maxChannelLength)']],
  ['syntax error', 'server:\n  host: "abc\n', ['F:3:1: Missing closing "quote']],
  ['missing pattern', 'channels:\n  - payload: text\n    access: public\n', ['F:2:5: missing required key `pattern` (channels[0])']],
  ['bad pattern syntax', 'channels:\n  - pattern: "a:{x"\n    access: public\n', ['F:2:14: pattern has an unclosed `{` at offset 2 (channels[0].pattern)']],
  ['pattern charset', 'channels:\n  - pattern: "a b:{x}"\n    access: public\n', ['F:2:14: pattern has characters outside letters, digits, `_ . @ = + -` and `:` in `a b:` (channels[0].pattern)']],
  ['adjacent params', 'channels:\n  - pattern: "{a}{b}"\n    access: public\n', ['F:2:14: pattern has adjacent parameters before `{b}`; separate them with text (channels[0].pattern)']],
  ['template param the pattern lacks', 'channels:\n  - pattern: "a:{x}"\n    redis: "b:{y}"\n    access: public\n',
    ['F:3:12: redis template uses `{y}`, which the pattern does not define (channels[0].redis)']],
  ['sub param the pattern lacks', 'jwt: { secret: 0123456789abcdef0123456789abcdef }\nchannels:\n  - pattern: "user:{id}"\n    access: { token: { sub: userId } }\n',
    ['F:4:29: sub names `userId`, which the pattern does not define (channels[0].access.token.sub)']],
  ['claimContains param the pattern lacks', 'jwt: { secret: 0123456789abcdef0123456789abcdef }\nchannels:\n  - pattern: "f:{forum}"\n    access:\n      token:\n        claimContains: { claim: forums, param: board }\n',
    ['F:6:48: param names `board`, which the pattern does not define (channels[0].access.token.claimContains.param)']],
  ['claimContains needs both keys', 'jwt: { secret: 0123456789abcdef0123456789abcdef }\nchannels:\n  - pattern: "f:{forum}"\n    access: { token: { claimContains: { claim: forums } } }\n',
    ['F:4:39: missing required key `param` (channels[0].access.token.claimContains)']],
  ['access word', 'channels:\n  - pattern: "a:{x}"\n    access: private\n', ['F:3:13: access must be `public`, `token` or a mapping (channels[0].access)']],
  ['token access needs a key', 'channels:\n  - pattern: "a:{x}"\n    access: token\n', ['F:3:13: token access needs jwt.secret, jwt.publicKeyFile or jwt.jwksFile (channels[0].access)']],
  ['missing ${VAR}', 'publish:\n  keys:\n    - key: "${NOPE_KEY}"\n      scopes: ["*"]\n', ['F:3:12: environment variable NOPE_KEY is not set (publish.keys[0].key)']],
  ['malformed ${', 'jwt:\n  secret: "${oops"\n', ['F:2:11: secret has a malformed ${...} reference; write ${NAME}, or $${ for a literal (jwt.secret)']],
  ['class default not in list', 'classes:\n  default: tablet\n', ['F:2:12: default `tablet` is not a class in classes.list (classes.default)']],
  ['duplicate class names', 'classes:\n  list:\n    - { name: desktop }\n    - { name: desktop }\n', ['F:4:15: duplicate class name `desktop` (classes.list[1].name)']],
  ['invalid userAgent regex', 'classes:\n  list:\n    - { name: desktop, userAgent: "(" }\n',
    ['F:3:35: userAgent is not a valid regular expression: Invalid regular expression: /(/i: Unterminated group (classes.list[0].userAgent)']],
  ['redis broker with a bad url', 'broker:\n  type: redis\n  url: "http://127.0.0.1:6379"\n', ['F:3:8: url must be a redis:// or rediss:// URL (broker.url)']],
  ['cluster without seed nodes', 'broker:\n  type: cluster\n', ['F:2:3: type cluster needs at least one host:port in cluster.nodes (broker.cluster.nodes)']],
  ['cluster node not host:port', 'broker:\n  type: cluster\n  cluster:\n    nodes: ["10.0.0.1"]\n    mode: sharded\n',
    ['F:4:13: `10.0.0.1` is not host:port (broker.cluster.nodes)']],
  ['cluster mode', 'broker:\n  cluster:\n    mode: fanout\n', ['F:3:11: mode must be one of sharded, classic (broker.cluster.mode)']],
  ['sentinel without master name', 'broker:\n  type: sentinel\n  sentinel: { nodes: ["127.0.0.1:26379"] }\n',
    ['F:3:13: type sentinel needs the master name the sentinels monitor (broker.sentinel.masterName)']],
  ['reconnect bounds', 'broker:\n  reconnectMin: 10s\n  reconnectMax: 1s\n', ['F:3:17: reconnectMax must be at least reconnectMin (broker.reconnectMax)']],
  ['metrics listen', 'metrics:\n  listen: "9100"\n', ['F:2:11: listen must be host:port, or empty for the main port (metrics.listen)']],
  ['drain window', 'drain:\n  deadline: 1s\n  window: 5s\n', ['F:3:11: window must not exceed deadline (drain.window)']],
  ['several errors at once, in file order', 'server:\n  port: -1\n  hots: x\nbroker:\n  linger: soon\nchannels:\n  - access: public\n',
    ['F:2:9: port must be between 0 and 65535 (server.port)', 'F:3:3: unknown key `hots` in server; did you mean `host`?',
      'F:5:11: linger must be a duration like 5s (broker.linger)', 'F:7:5: missing required key `pattern` (channels[0])']],
];

t.test('broken configs report FILE:LINE:COL', async (t) => {
  for (const [name, text, expected] of BROKEN) {
    const { config, lines } = check(t, text);
    t.same(lines, expected, name);
    t.equal(config, null, `${name}: no config`);
  }
});

t.test('warnings do not fail and come first', async (t) => {
  const { config, lines } = check(t, 'server:\n  port: x\n', { HERALD_PROT: '1' });
  t.same(lines, ['env HERALD_PROT: warning: unknown variable HERALD_PROT is ignored; did you mean HERALD_PORT?', 'F:2:9: port must be an integer (server.port)']);
  t.equal(config, null);
  const ok = check(t, 'server:\n  port: 9000\n', { HERALD_PROT: '1' });
  t.equal(ok.lines.length, 1);
  t.equal(ok.config?.server.port, 9000);
});

t.test('a rule without `access` is an error (default deny), at the rule', async (t) => {
  const { config, lines } = check(t, 'channels:\n  - pattern: "a:{x}"\n');
  t.same(lines, ['F:2:5: access is required: say who may subscribe (`access: public`, `access: token` or `access: { token: … }`) (channels[0].access)']);
  t.equal(config, null, 'no config: the daemon does not start on it');
  t.equal(check(t, 'channels:\n  - pattern: "a:{x}"\n    access: public\n').lines.length, 0, 'saying `access: public` is fine');
});

t.test('metrics.allow: words, IPs and CIDRs; anything else is an error at its line', async (t) => {
  t.equal(check(t, 'metrics:\n  allow: [loopback, private, "10.1.0.0/16", "::1", "*"]\n').lines.length, 0);
  t.same(check(t, 'metrics:\n  allow: [lan]\n').lines, ['F:2:11: `lan` is not `loopback`, `private`, `*`, an IP address or a CIDR (metrics.allow)']);
  t.same(loadConfig({ file: null, env: {}, overrides: {} }).config?.metrics.allow, ['loopback', 'private'], 'default: loopback and private networks');
});

t.test('interpolation', async (t) => {
  const { config, lines } = check(t, 'jwt:\n  secret: "${HERALD_T_SECRET}"\n  issuer: "$${literal}"\nserver:\n  port: ${HERALD_T_PORT}\n', {
    HERALD_T_SECRET: 's3cret-s3cret-s3cret-s3cret-s3cret',
    HERALD_T_PORT: '9001',
  });
  t.same(lines, [], 'referenced HERALD_* variables are not "unknown"');
  t.equal(config?.jwt.secret, 's3cret-s3cret-s3cret-s3cret-s3cret');
  t.equal(config?.jwt.issuer, '${literal}');
  t.equal(config?.server.port, 9001);
  const bad = check(t, 'server:\n  port: "${HERALD_T_PORT}"\n', { HERALD_T_PORT: 'hunter2' });
  t.same(bad.lines, ['F:2:9: port must be an integer (server.port)']);
  t.notOk(bad.lines.join('\n').includes('hunter2'), 'the value is never printed');
});

t.test('precedence: defaults < file < env < overrides', async (t) => {
  const text = 'server:\n  port: 9000\n  host: 10.0.0.1\nlog:\n  level: warn\n';
  t.equal(check(t, '').config?.server.port, 8080, 'default');
  t.equal(check(t, text).config?.server.port, 9000, 'file');
  const env = { HERALD_PORT: '9100', HERALD_HOST: '0.0.0.0', HERALD_LOG_LEVEL: 'debug' };
  const fromEnv = check(t, text, env).config;
  t.same([fromEnv?.server.port, fromEnv?.server.host, fromEnv?.log.level], [9100, '0.0.0.0', 'debug'], 'env');
  const fromFlags = check(t, text, env, { port: 9200, host: '127.0.0.2', logLevel: 'error' }).config;
  t.same([fromFlags?.server.port, fromFlags?.server.host, fromFlags?.log.level], [9200, '127.0.0.2', 'error'], 'flags');
  t.equal(check(t, text, { HERALD_PORT: '' }).config?.server.port, 9000, 'empty env counts as unset');
});

t.test('redis selection', async (t) => {
  const viaDefault = check(t, '', { REDIS_URL: 'redis://10.1.1.1:6380' }).config;
  t.same([viaDefault?.broker.kind, viaDefault?.broker.url], ['memory', 'redis://10.1.1.1:6380'], 'REDIS_URL only supplies the url');
  const fileWins = check(t, 'broker: { type: redis, url: "redis://file:1" }\n', { REDIS_URL: 'redis://env:2' }).config;
  t.equal(fileWins?.broker.url, 'redis://file:1', 'the file beats REDIS_URL');
  const heraldEnv = check(t, 'broker: { url: "redis://file:1" }\n', { HERALD_REDIS_URL: 'redis://env:3' }).config;
  t.same([heraldEnv?.broker.kind, heraldEnv?.broker.url], ['redis', 'redis://env:3'], 'HERALD_REDIS_URL switches to redis');
  const flag = check(t, '', { HERALD_REDIS_URL: 'redis://env:3' }, { redisUrl: 'rediss://flag:4' }).config;
  t.same([flag?.broker.kind, flag?.broker.url], ['redis', 'rediss://flag:4'], '--redis wins');
});

t.test('env and flag problems', async (t) => {
  const { config, lines } = check(t, '', { HERALD_PORT: 'eighty', HERALD_PROT: '1', HERALD_REDIS_URL: 'nonsense' }, { logLevel: 'loud' as 'info' });
  t.equal(config, null);
  t.same(lines, [
    'env HERALD_PROT: warning: unknown variable HERALD_PROT is ignored; did you mean HERALD_PORT?',
    'env HERALD_PORT: port must be an integer (server.port)',
    '--log-level: level must be one of trace, debug, info, warn, error, silent (log.level)',
    'env HERALD_REDIS_URL: url must be a redis:// or rediss:// URL (broker.url)',
  ]);
  t.same(check(t, '', {}, { port: 70000 }).lines, ['--port: port must be between 0 and 65535 (server.port)']);
  t.same(check(t, '', {}, { port: Number.NaN }).lines, ['--port: port must be an integer (server.port)']);
});

t.test('unreadable file', async (t) => {
  const { config, issues } = loadConfig({ file: join(t.testdir(), 'missing.yaml'), env: {}, overrides: {} });
  t.equal(config, null);
  t.match(issues.map(formatIssue), [/missing\.yaml: cannot read the config file \(ENOENT\)$/]);
});

t.test('file: null gives the embedded defaults, deep-frozen', async (t) => {
  const { config, issues } = loadConfig({ file: null, env: {}, overrides: {} });
  t.same(issues, []);
  if (config === null) throw new Error('no config');
  t.equal(config.file, '');
  t.same(config.server, { host: '127.0.0.1', port: 8080, reusePort: false, trustedIpHeader: '' });
  t.equal(config.broker.kind, 'memory');
  t.equal(config.broker.lingerMs, 5_000);
  t.same([config.broker.cluster, config.broker.sentinel], [{ nodes: [], mode: 'sharded' }, { nodes: [], masterName: '' }]);
  t.same(config.channels, [{
    pattern: 'public:{name}', redis: 'public:{name}', payload: 'text', history: { size: 100, maxAgeMs: 300_000, store: 'memory' },
    lingerMs: 5_000, batchDelayMs: 10, access: { kind: 'public' }, publishScopes: [],
  }]);
  t.same(config.classes.list.map((c) => [c.name, c.lifetimeMs, c.pollHoldMs, c.heartbeatMs, c.idleMs]), [
    ['mobile', 30_000, 30_000, 15_000, 60_000],
    ['desktop', 300_000, 55_000, 25_000, 120_000],
  ]);
  t.equal(config.classes.defaultClass, 'desktop');
  t.equal(config.limits.maxBufferedBytes, 1_048_576);
  t.same(config.publish.keys, []);
  t.same(config.jwt.algorithms, ['HS256']);
  for (const frozen of [config, config.server, config.channels, config.channels[0], config.channels[0]?.history, config.classes.list[0], config.jwt.algorithms]) {
    t.ok(Object.isFrozen(frozen));
  }
  t.throws(() => {
    (config.server as { port: number }).port = 1;
  }, TypeError);
});

t.test('cluster and sentinel: nodes parsed, IPv6 in brackets; check-config names the mode and never the password', async (t) => {
  const c = check(t, 'broker:\n  type: cluster\n  url: "rediss://app:s3cret@ignored:1"\n  cluster: { nodes: ["10.0.0.1:7000", "[::1]:7001"], mode: classic }\n').config;
  if (c === null) throw new Error('no config');
  t.same(c.broker.cluster, { nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '::1', port: 7001 }], mode: 'classic' });
  const text = describeConfig(c);
  t.match(text, 'Broker: redis cluster, mode classic (SUBSCRIBE on one node, apps PUBLISH); seeds 10.0.0.1:7000, [::1]:7001 (TLS, password set)');
  t.notMatch(text, 's3cret');
  const sharded = check(t, 'broker:\n  type: cluster\n  cluster: { nodes: ["10.0.0.1:7000"] }\n').config;
  t.match(describeConfig(sharded!), 'mode sharded (SSUBSCRIBE per shard master, apps SPUBLISH)');
  const sentinel = check(t, 'broker:\n  type: sentinel\n  sentinel: { nodes: ["10.0.0.1:26379"], masterName: main }\n').config;
  t.match(describeConfig(sentinel!), 'Broker: redis sentinel, master main; sentinels 10.0.0.1:26379');
});

t.test('rule defaults come from defaults: and broker.linger', async (t) => {
  const { config, lines } = check(t, [
    'broker: { linger: 9s }',
    'defaults: { payload: json, history: { size: 7, maxAge: 1m } }',
    'channels:',
    '  - { pattern: "a:{x}", access: public }',
    '  - { pattern: "b:{x}", access: public, payload: text, linger: 0, history: { size: 0 } }',
  ].join('\n'));
  t.same(lines, []);
  t.same(config?.channels.map((r) => [r.payload, r.history, r.lingerMs]), [
    ['json', { size: 7, maxAgeMs: 60_000, store: 'memory' }, 9_000],
    ['text', { size: 0, maxAgeMs: 60_000, store: 'memory' }, 0],
  ]);
});

t.test('fixtures', async (t) => {
  const load = (name: string, env: Env = {}) => loadConfig({ file: `test/fixtures/config/${name}`, env, overrides: {} });
  const minimal = load('minimal.yaml');
  t.same(minimal.issues, []);
  t.same([minimal.config?.server.port, minimal.config?.broker.kind, minimal.config?.channels[0]?.pattern], [0, 'memory', 'public:{name}']);

  const redis = load('valid-redis.yaml', { HERALD_TEST_JWT_SECRET: 'x'.repeat(32), REDIS_URL: 'redis://127.0.0.1:7001' });
  t.same(redis.issues, []);
  t.same([redis.config?.broker.kind, redis.config?.broker.url, redis.config?.broker.lingerMs], ['redis', 'redis://127.0.0.1:7001', 200]);

  const broken = load('broken.yaml');
  t.equal(broken.config, null);
  t.same(broken.issues.map(formatIssue), [
    'test/fixtures/config/broken.yaml:3:9: port must be between 0 and 65535 (server.port)',
    'test/fixtures/config/broken.yaml:4:3: unknown key `hots` in server; did you mean `host`?',
    'test/fixtures/config/broken.yaml:7:8: url must be a redis:// or rediss:// URL (broker.url)',
    'test/fixtures/config/broken.yaml:8:11: linger must be a duration like 5s (broker.linger)',
    'test/fixtures/config/broken.yaml:11:12: redis template uses `{name}`, which the pattern does not define (channels[0].redis)',
    'test/fixtures/config/broken.yaml:13:5: missing required key `pattern` (channels[1])',
    'test/fixtures/config/broken.yaml:16:12: default `tablet` is not a class in classes.list (classes.default)',
  ]);

  const syntax = load('syntax-error.yaml');
  t.equal(syntax.config, null);
  t.ok(syntax.issues.length > 0);
  t.match(formatIssue(syntax.issues[0] ?? { file: '', line: 0, col: 0, severity: 'error', message: '' }), /^test\/fixtures\/config\/syntax-error\.yaml:\d+:\d+: /);
});
