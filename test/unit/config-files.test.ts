import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseDocument, isMap, isSeq, isScalar } from 'yaml';
import { formatIssue, loadConfig } from '../../src/config/load.js';
import { describeConfig } from '../../src/config/describe.js';
import { schemaKeyPaths } from '../../src/config/schema.js';

const EXAMPLE_ENV = { HERALD_PUBLISH_KEY: 'example-publish-key', HERALD_JWT_SECRET: 'example-jwt-secret-of-32-bytes-or-more' };

/** Key paths present in a YAML file, in schema notation (`channels[].access.token.sub`). */
function yamlKeyPaths(node: unknown, prefix: string, out: Set<string>): Set<string> {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const path = prefix === '' ? key : `${prefix}.${key}`;
      out.add(path);
      yamlKeyPaths(pair.value, path, out);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) yamlKeyPaths(item, `${prefix}[]`, out);
  }
  return out;
}

t.test('config/herald.yaml validates with no issues', async (t) => {
  const { config, issues } = loadConfig({ file: 'config/herald.yaml', env: {}, overrides: {} });
  t.same(issues.map(formatIssue), []);
  t.ok(config);
  t.equal(config?.broker.kind, 'memory');
  t.equal(config?.server.host, '127.0.0.1');
  t.equal(config?.server.port, 8080);
  t.same(config?.channels.map((rule) => [rule.pattern, rule.payload, rule.history, rule.access]), [
    ['public:{name}', 'text', { size: 100, maxAgeMs: 300_000, store: 'memory' }, { kind: 'public' }],
  ]);
  t.same(config?.classes.list.map((c) => c.name), ['mobile', 'desktop']);
});

t.test('config/herald.yaml matches the embedded defaults, except the live page it turns on', async (t) => {
  const fromFile = loadConfig({ file: 'config/herald.yaml', env: {}, overrides: {} }).config;
  const embedded = loadConfig({ file: null, env: {}, overrides: {} }).config;
  // `npm start` shows the live page; a config that does not ask for it (production) does not serve it.
  t.equal(fromFile?.livePage.enabled, true);
  t.equal(embedded?.livePage.enabled, false);
  t.same({ ...fromFile, file: '', livePage: { enabled: false } }, embedded);
});

t.test('config/herald.example.yaml validates', async (t) => {
  const { config, issues } = loadConfig({ file: 'config/herald.example.yaml', env: EXAMPLE_ENV, overrides: {} });
  t.same(issues.map(formatIssue), []);
  t.equal(config?.broker.kind, 'redis');
  t.equal(config?.publish.keys[0]?.key, 'example-publish-key');
  const user = config?.channels.find((rule) => rule.pattern === 'user:{userId}');
  t.same(user?.access, { kind: 'token', subParam: 'userId', claimContains: null, channelsClaim: false });
  t.equal(config?.channels.find((rule) => rule.pattern === 'events:{name}')?.payload, 'json');
});

t.test('config/herald.example.yaml without its variables names them', async (t) => {
  const { config, issues } = loadConfig({ file: 'config/herald.example.yaml', env: {}, overrides: {} });
  t.equal(config, null);
  t.match(issues.map(formatIssue), [/environment variable HERALD_PUBLISH_KEY is not set/, /environment variable HERALD_JWT_SECRET is not set/]);
});

t.test('config/herald.example.yaml mentions every schema key', async (t) => {
  const doc = parseDocument(readFileSync('config/herald.example.yaml', 'utf8'));
  const present = yamlKeyPaths(doc.contents, '', new Set());
  const missing = schemaKeyPaths().filter((path) => !present.has(path));
  t.same(missing, [], 'schema keys absent from the example');
  t.ok(schemaKeyPaths().includes('channels[].access.token.claimContains.param'), 'walks lists and access');
});

t.test('describeConfig prints rules and classes, never secrets', async (t) => {
  const env = { ...EXAMPLE_ENV, HERALD_REDIS_URL: 'redis://:pa55word@127.0.0.1:6390' };
  const { config } = loadConfig({ file: 'config/herald.example.yaml', env, overrides: {} });
  if (config === null) throw new Error('example config did not load');
  const text = describeConfig(config);
  for (const secret of ['example-publish-key', 'example-jwt-secret', 'pa55word']) t.notOk(text.includes(secret), `hides ${secret}`);
  t.match(text, /1\. public:\{name\}/);
  t.match(text, /3\. user:\{userId\}\n\s+redis app:user:\{userId\}; text; history off/);
  t.match(text, /access token \(sub = \{userId\}\)/);
  t.match(text, /access token \(forums contains \{forum\}\)/);
  t.match(text, /mobile\s+User-Agent \/Mobile\|Android\|iPhone\|iPad\/i; lifetime 30s/);
  t.match(text, /redis redis:\/\/:\*\*\*@127\.0\.0\.1:6390/);
  t.match(text, /2\. events:\{name\}\n.*history 500 messages \/ 10m in a Redis Stream \(durable/, 'a durable rule on the redis broker');
  t.match(describeConfig({ ...config, broker: { ...config.broker, kind: 'memory' } }), /in process \(store: redis needs the redis broker/, 'on the memory broker a durable rule is the in-process history');
  const defaults = loadConfig({ file: null, env: {}, overrides: {} }).config;
  t.match(defaults === null ? '' : describeConfig(defaults), /^Config: embedded defaults\n/);
});
