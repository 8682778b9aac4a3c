import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../src/errors.js';
import type { TransportName } from '../../src/hub/subscriber.js';
import { HeraldMetrics, type MetricsSources } from '../../src/metrics/metrics.js';

interface FakeState {
  connections: { transport: TransportName; clientClass: string; count: number }[];
  subscriptions: number;
  channels: number;
  connected: boolean;
  polls: number;
}

function sourcesOf(state: FakeState): MetricsSources {
  return {
    connections: () => state.connections,
    subscriptions: () => state.subscriptions,
    channels: () => state.channels,
    brokerConnected: () => state.connected,
    pollsHeld: () => state.polls,
  };
}

function emptyState(): FakeState {
  return { connections: [], subscriptions: 0, channels: 0, connected: false, polls: 0 };
}

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
    out.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return out;
}

/** The value of the one sample with this name whose labels include `labels`. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const promtoolMissing = promtool.error === undefined && promtool.status === 0
  ? false
  : 'promtool not found: install Debian package `prometheus` (apt-get install prometheus) to run this check';

function promtoolCheck(text: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const CLASSES = ['mobile', 'desktop'];

t.test('counters move by exactly the expected amounts', async (t) => {
  const m = new HeraldMetrics(sourcesOf(emptyState()), { defaultMetrics: false, classes: CLASSES });
  const before = await m.text();
  t.equal(valueOf(before, 'herald_messages_received_total'), 0);
  t.equal(valueOf(before, 'herald_messages_delivered_total', { transport: 'ws' }), 0, 'closed-set series exist at zero');

  for (let i = 0; i < 3; i++) m.messageReceived();
  m.delivered('ws', 1000);
  m.delivered('ws', 24);
  m.delivered('sse', 7);
  m.dropped('invalid_json');
  m.dropped('oversize', 5);
  m.connectionOpened('sse', 'mobile');
  m.connectionOpened('sse', 'mobile');
  m.connectionOpened('poll', 'desktop');
  m.connectionClosed('sse', 'lifetime');
  m.connectionClosed('ws', 'slow_consumer');
  m.brokerReconnect();
  m.brokerProbeMissed();
  m.brokerProbeMissed();
  m.authFailure('token_expired');
  m.clientError('frame_invalid');
  m.clientError('frame_invalid');
  m.pollHold('timeout');
  m.publishRequest('ok');
  m.publishRequest('unauthorized');
  m.slowConsumerDrop('ws');

  const text = await m.text();
  t.equal(valueOf(text, 'herald_messages_received_total'), 3);
  t.equal(valueOf(text, 'herald_messages_delivered_total', { transport: 'ws' }), 1024);
  t.equal(valueOf(text, 'herald_messages_delivered_total', { transport: 'sse' }), 7);
  t.equal(valueOf(text, 'herald_messages_delivered_total', { transport: 'poll' }), 0);
  t.equal(valueOf(text, 'herald_messages_dropped_total', { reason: 'invalid_json' }), 1);
  t.equal(valueOf(text, 'herald_messages_dropped_total', { reason: 'oversize' }), 5);
  t.equal(valueOf(text, 'herald_connections_opened_total', { transport: 'sse', class: 'mobile' }), 2);
  t.equal(valueOf(text, 'herald_connections_opened_total', { transport: 'poll', class: 'desktop' }), 1);
  t.equal(valueOf(text, 'herald_connections_closed_total', { transport: 'sse', reason: 'lifetime' }), 1);
  t.equal(valueOf(text, 'herald_connections_closed_total', { transport: 'ws', reason: 'slow_consumer' }), 1);
  t.equal(valueOf(text, 'herald_connections_closed_total', { transport: 'ws', reason: 'client' }), 0);
  t.equal(valueOf(text, 'herald_broker_reconnects_total'), 1);
  t.equal(valueOf(text, 'herald_broker_probe_missed_total'), 2);
  t.equal(valueOf(text, 'herald_auth_failures_total', { code: 'token_expired' }), 1);
  t.equal(valueOf(text, 'herald_client_errors_total', { code: 'frame_invalid' }), 2);
  t.equal(valueOf(text, 'herald_poll_holds_total', { outcome: 'timeout' }), 1);
  t.equal(valueOf(text, 'herald_publish_requests_total', { outcome: 'ok' }), 1);
  t.equal(valueOf(text, 'herald_publish_requests_total', { outcome: 'unauthorized' }), 1);
  t.equal(valueOf(text, 'herald_slow_consumer_disconnects_total', { transport: 'ws' }), 1);

  t.equal(await m.text(), text, 'a second scrape with no activity reads the same (collect does not double count)');
});

t.test('latency histogram takes only sampled observations', async (t) => {
  const m = new HeraldMetrics(sourcesOf(emptyState()), { defaultMetrics: false, classes: CLASSES });
  m.observeLatency(0.00005);
  m.observeLatency(0.003);
  m.observeLatency(7);
  const text = await m.text();
  t.equal(valueOf(text, 'herald_delivery_latency_seconds_count'), 3);
  t.equal(valueOf(text, 'herald_delivery_latency_seconds_bucket', { le: '0.0001' }), 1);
  t.equal(valueOf(text, 'herald_delivery_latency_seconds_bucket', { le: '0.005' }), 2);
  t.equal(valueOf(text, 'herald_delivery_latency_seconds_bucket', { le: '5' }), 2);
  t.equal(valueOf(text, 'herald_delivery_latency_seconds_bucket', { le: '+Inf' }), 3);
});

t.test('gauges read the sources at scrape time', async (t) => {
  const state = emptyState();
  const m = new HeraldMetrics(sourcesOf(state), { defaultMetrics: false, classes: CLASSES });
  let text = await m.text();
  t.equal(valueOf(text, 'herald_connections_open', { transport: 'ws', class: 'mobile' }), 0);
  t.equal(valueOf(text, 'herald_broker_connected'), 0);

  state.connections = [
    { transport: 'ws', clientClass: 'mobile', count: 4 },
    { transport: 'sse', clientClass: 'desktop', count: 2 },
    { transport: 'sse', clientClass: 'desktop', count: 1 },
  ];
  state.subscriptions = 11;
  state.channels = 6;
  state.connected = true;
  state.polls = 3;
  text = await m.text();
  t.equal(valueOf(text, 'herald_connections_open', { transport: 'ws', class: 'mobile' }), 4);
  t.equal(valueOf(text, 'herald_connections_open', { transport: 'sse', class: 'desktop' }), 3, 'entries of one pair add up');
  t.equal(valueOf(text, 'herald_subscriptions'), 11);
  t.equal(valueOf(text, 'herald_channels'), 6);
  t.equal(valueOf(text, 'herald_broker_connected'), 1);
  t.equal(valueOf(text, 'herald_polls_held'), 3);

  state.connections = [];
  text = await m.text();
  t.equal(valueOf(text, 'herald_connections_open', { transport: 'ws', class: 'mobile' }), 0, 'closed connections leave no stale value');
});

t.test('label values stay inside closed sets', async (t) => {
  const state = emptyState();
  state.connections = [{ transport: 'ws', clientClass: 'Mozilla/5.0 (something odd)', count: 1 }];
  const m = new HeraldMetrics(sourcesOf(state), { defaultMetrics: false, classes: CLASSES });
  m.connectionOpened('ws', 'user:42');
  m.authFailure('user:42');
  m.clientError('not-a-code');
  const allowed: Record<string, Set<string>> = {
    transport: new Set(['sse', 'ndjson', 'ws', 'poll']),
    class: new Set([...CLASSES, 'other']),
    reason: new Set([
      'client', 'lifetime', 'idle', 'slow_consumer', 'drain', 'token_expired', 'policy', 'error',
      'invalid_json', 'oversize', 'not_durable',
    ]),
    code: new Set([...Object.keys(ErrorCode), 'other']),
    outcome: new Set(['message', 'timeout', 'aborted', 'drain', 'reset', 'policy', 'ok', 'unauthorized', 'forbidden', 'invalid', 'too_large', 'unavailable']),
    le: new Set(['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '+Inf']),
  };
  const text = await m.text();
  const seen = new Set<string>();
  for (const sample of samples(text)) {
    for (const [label, value] of Object.entries(sample.labels)) {
      const set = allowed[label];
      if (set === undefined) t.fail(`unexpected label ${label} on ${sample.name}`);
      else if (!set.has(value)) t.fail(`label ${label}="${value}" on ${sample.name} is outside its closed set`);
      seen.add(`${label}=${value}`);
    }
  }
  t.equal(valueOf(text, 'herald_connections_open', { transport: 'ws', class: 'other' }), 1);
  t.equal(valueOf(text, 'herald_connections_opened_total', { transport: 'ws', class: 'other' }), 1);
  t.equal(valueOf(text, 'herald_auth_failures_total', { code: 'other' }), 1);
  t.equal(valueOf(text, 'herald_client_errors_total', { code: 'other' }), 1);
  t.notOk([...seen].some((s) => s.includes('user:42') || s.includes('Mozilla')), 'no free-form value leaks into labels');
});

t.test('only the configured transports get zero series', async (t) => {
  const m = new HeraldMetrics(sourcesOf(emptyState()), { defaultMetrics: false, classes: CLASSES, transports: ['sse'] });
  const text = await m.text();
  t.equal(valueOf(text, 'herald_messages_delivered_total', { transport: 'sse' }), 0);
  t.equal(valueOf(text, 'herald_messages_delivered_total', { transport: 'ws' }), undefined);
  t.equal(valueOf(text, 'herald_connections_closed_total', { transport: 'ws', reason: 'client' }), undefined);
});

t.test('default metrics: no non-counter is named *_total', async (t) => {
  const m = new HeraldMetrics(sourcesOf(emptyState()), { defaultMetrics: true, classes: CLASSES });
  const text = await m.text();
  t.match(text, /^process_cpu_seconds_total /m, 'process metrics are present');
  t.match(text, /^process_resident_memory_bytes /m);
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (name?.endsWith('_total') === true) t.equal(type, 'counter', name);
  }
  t.notMatch(text, /nodejs_active_handles_total|nodejs_active_requests_total|nodejs_active_resources_total/);
});

t.test('promtool check metrics passes', { skip: promtoolMissing }, async (t) => {
  const state = emptyState();
  state.connections = [{ transport: 'sse', clientClass: 'mobile', count: 2 }];
  const m = new HeraldMetrics(sourcesOf(state), { defaultMetrics: true, classes: CLASSES });
  m.delivered('sse', 2);
  m.observeLatency(0.001);
  const result = promtoolCheck(await m.text());
  t.equal(result.status, 0, result.output);
  t.not(promtoolCheck('# HELP x_total x\n# TYPE x_total gauge\nx_total 1\n').status, 0, 'the check is live: it rejects a gauge named *_total');
});

t.test('merging worker snapshots sums counters and passes promtool', async (t) => {
  const a = emptyState();
  const b = emptyState();
  a.connections = [{ transport: 'ws', clientClass: 'mobile', count: 2 }];
  b.connections = [{ transport: 'ws', clientClass: 'mobile', count: 5 }];
  a.connected = true;
  b.connected = false;
  const wa = new HeraldMetrics(sourcesOf(a), { defaultMetrics: true, classes: CLASSES });
  const wb = new HeraldMetrics(sourcesOf(b), { defaultMetrics: true, classes: CLASSES });
  wa.messageReceived();
  wb.messageReceived();
  wb.messageReceived();
  wa.delivered('ws', 10);
  wb.delivered('ws', 32);
  wa.observeLatency(0.001);
  wb.observeLatency(0.002);

  // Snapshots cross a process boundary (IPC) in the supervisor, so round-trip them through JSON.
  const snapshots = await Promise.all([wa.snapshot(), wb.snapshot()]);
  const text = await HeraldMetrics.mergeSnapshots(snapshots.map((s) => JSON.parse(JSON.stringify(s)) as unknown));
  t.equal(valueOf(text, 'herald_messages_received_total'), 3);
  t.equal(valueOf(text, 'herald_messages_delivered_total', { transport: 'ws' }), 42);
  t.equal(valueOf(text, 'herald_connections_open', { transport: 'ws', class: 'mobile' }), 7);
  t.equal(valueOf(text, 'herald_delivery_latency_seconds_count'), 2);
  t.equal(valueOf(text, 'herald_broker_connected'), 0, 'connected only if every worker is');
  await t.rejects(HeraldMetrics.mergeSnapshots([{ not: 'a snapshot' }]), TypeError);

  await t.test('promtool accepts the merged text', { skip: promtoolMissing }, async (t) => {
    const result = promtoolCheck(text);
    t.equal(result.status, 0, result.output);
  });
});

t.test('the Grafana dashboard queries only metrics this module exposes', async (t) => {
  const dashboardPath = fileURLToPath(new URL('../../config/grafana-dashboard.json', import.meta.url));
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
  t.ok(exprs.length > 10, 'the dashboard has queries');

  const m = new HeraldMetrics(sourcesOf(emptyState()), { defaultMetrics: true, classes: CLASSES });
  m.observeLatency(0.001);
  const exposed = new Set(samples(await m.text()).map((s) => s.name));
  for (const expr of exprs) {
    for (const [name] of expr.matchAll(/\b(?:herald|process|nodejs)_\w+/g)) t.ok(exposed.has(name), `${name} is exposed`);
  }

  await t.test('every expression is valid PromQL', { skip: promtoolMissing }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-dashboard-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // Grafana variables are not PromQL: substitute what Grafana would before checking syntax.
    const rules = exprs.map((expr, i) => ({
      record: `dashboard:expr${i}`,
      expr: expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', '.*').replaceAll('$instance', '.*'),
    }));
    const file = join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    const run = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    t.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  });
});
