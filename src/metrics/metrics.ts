/**
 * Herald's Prometheus metrics: the only importer of prom-client.
 *
 * Hot path cost: prom-client's `counter.labels(...).inc()` still hashes and validates the
 * label object on every call, so the counters the fan-out path touches are plain numbers in
 * fixed-shape records (`this.delivered.ws += n`). Each prom-client Counter copies them in its
 * `collect()`, which runs only at scrape time. Counts (connections, subscriptions, channels,
 * held polls, broker link) are read from `MetricsSources` the same way.
 *
 * Labels take values from closed sets only (transports, reasons, configured class names,
 * the error-code catalogue); anything else is counted under `other`. Never a channel name.
 */
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type Aggregator,
} from 'prom-client';
import { ErrorCode } from '../errors.js';
import type { TransportName } from '../hub/subscriber.js';

export type CloseReason = 'client' | 'lifetime' | 'idle' | 'slow_consumer' | 'drain' | 'token_expired' | 'policy' | 'error';
/** Messages Herald discarded. A dropped slow consumer loses nothing: it resumes from its last id. */
export type DropReason = 'invalid_json' | 'oversize' | 'not_durable';
export type PollOutcome = 'message' | 'timeout' | 'aborted' | 'drain' | 'reset';
export type PublishOutcome = 'ok' | 'unauthorized' | 'forbidden' | 'invalid' | 'too_large' | 'unavailable';

/** Read at scrape time (inside `collect()`), so keeping these numbers costs the hot path nothing. */
export interface MetricsSources {
  connections(): Iterable<{ readonly transport: TransportName; readonly clientClass: string; readonly count: number }>;
  subscriptions(): number;
  channels(): number;
  brokerConnected(): boolean;
  pollsHeld(): number;
}

export interface HeraldMetricsOptions {
  /** Include prom-client's process and Node.js metrics (minus the ones promtool rejects). */
  readonly defaultMetrics: boolean;
  /** Transports whose series are exported at zero from the start. @default all three */
  readonly transports?: readonly TransportName[];
  /** Configured client class names: the closed set of the `class` label. */
  readonly classes: readonly string[];
}

const ALL_TRANSPORTS: readonly TransportName[] = ['sse', 'ndjson', 'ws', 'poll'];
const CLOSE_REASONS: readonly CloseReason[] = ['client', 'lifetime', 'idle', 'slow_consumer', 'drain', 'token_expired', 'policy', 'error'];
const DROP_REASONS: readonly DropReason[] = ['invalid_json', 'oversize', 'not_durable'];
const POLL_OUTCOMES: readonly PollOutcome[] = ['message', 'timeout', 'aborted', 'drain', 'reset'];
const PUBLISH_OUTCOMES: readonly PublishOutcome[] = ['ok', 'unauthorized', 'forbidden', 'invalid', 'too_large', 'unavailable'];
/** Label value for a class or code outside its closed set (a caller bug, but still bounded). */
const OTHER = 'other';
const ERROR_CODES: readonly string[] = Object.keys(ErrorCode);
/** Auth failures are the catalogue's 401/403 codes, so the set follows errors.ts by itself. */
const AUTH_CODES: readonly string[] = ERROR_CODES.filter((code) => {
  const status = ErrorCode[code as keyof typeof ErrorCode].status;
  return status === 401 || status === 403;
});
/** 0.1 ms … 5 s: loopback fan-out sits in the sub-millisecond buckets, a stalled loop in the top ones. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type Slots<K extends string> = Record<K, number>;
type Row = readonly [Readonly<Record<string, string>>, number];

function slots<K extends string>(keys: readonly K[]): Slots<K> {
  const record = {} as Slots<K>;
  for (const key of keys) record[key] = 0;
  return record;
}

function keyedSlots(keys: readonly string[]): Map<string, { value: number }> {
  return new Map([...keys, OTHER].map((key) => [key, { value: 0 }]));
}

/** Rows of one label over a record; zero rows are kept only for the `always` keys. */
function* rowsOf(label: string, record: Readonly<Record<string, number>>, always: readonly string[]): Iterable<Row> {
  for (const [key, value] of Object.entries(record)) {
    if (value !== 0 || always.includes(key)) yield [{ [label]: key }, value];
  }
}

function* rowsOfMap(label: string, map: ReadonlyMap<string, { value: number }>): Iterable<Row> {
  for (const [key, slot] of map) {
    if (slot.value !== 0 || key !== OTHER) yield [{ [label]: key }, slot.value];
  }
}

export class HeraldMetrics {
  private readonly registry = new Registry();
  private readonly transports: readonly TransportName[];

  private received = 0;
  private reconnects = 0;
  private probesMissed = 0;
  private readonly deliveredBy = slots(ALL_TRANSPORTS);
  private readonly slowConsumers = slots(ALL_TRANSPORTS);
  private readonly drops = slots(DROP_REASONS);
  private readonly pollHolds = slots(POLL_OUTCOMES);
  private readonly publishes = slots(PUBLISH_OUTCOMES);
  private readonly closed: Record<TransportName, Slots<CloseReason>>;
  /** class → per-transport opened count; `other` catches unknown class names. */
  private readonly opened: Map<string, Slots<TransportName>>;
  private readonly authFailures = keyedSlots(AUTH_CODES);
  private readonly clientErrors = keyedSlots(ERROR_CODES);
  private readonly latency: Histogram;

  constructor(sources: MetricsSources, opts: HeraldMetricsOptions) {
    this.transports = opts.transports ?? ALL_TRANSPORTS;
    this.closed = { sse: slots(CLOSE_REASONS), ndjson: slots(CLOSE_REASONS), ws: slots(CLOSE_REASONS), poll: slots(CLOSE_REASONS) };
    this.opened = new Map([...opts.classes, OTHER].map((name) => [name, slots(ALL_TRANSPORTS)]));
    if (opts.defaultMetrics) this.registerDefaultMetrics();
    this.registerGauges(sources, opts.classes);
    this.registerCounters();
    this.latency = new Histogram({
      name: 'herald_delivery_latency_seconds',
      help: 'Time from receiving a broker message to writing it to a client (sampled deliveries).',
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  connectionOpened(transport: TransportName, clientClass: string): void {
    (this.opened.get(clientClass) ?? (this.opened.get(OTHER) as Slots<TransportName>))[transport]++;
  }

  connectionClosed(transport: TransportName, reason: CloseReason): void {
    this.closed[transport][reason]++;
  }

  messageReceived(): void {
    this.received++;
  }

  /** Once per message per transport with the fan-out size, never once per subscriber. */
  delivered(transport: TransportName, count: number): void {
    this.deliveredBy[transport] += count;
  }

  dropped(reason: DropReason, count = 1): void {
    this.drops[reason] += count;
  }

  /** Called for a sample of deliveries only (the caller picks, e.g. 1 in 64 messages). */
  observeLatency(seconds: number): void {
    this.latency.observe(seconds);
  }

  brokerReconnect(): void {
    this.reconnects++;
  }

  brokerProbeMissed(): void {
    this.probesMissed++;
  }

  /** `code` is an errors.ts code with status 401/403; anything else counts as `other`. */
  authFailure(code: string): void {
    (this.authFailures.get(code) ?? (this.authFailures.get(OTHER) as { value: number })).value++;
  }

  clientError(code: string): void {
    (this.clientErrors.get(code) ?? (this.clientErrors.get(OTHER) as { value: number })).value++;
  }

  pollHold(outcome: PollOutcome): void {
    this.pollHolds[outcome]++;
  }

  publishRequest(outcome: PublishOutcome): void {
    this.publishes[outcome]++;
  }

  /** A connection dropped because its unsent bytes passed the bound. */
  slowConsumerDrop(transport: TransportName): void {
    this.slowConsumers[transport]++;
  }

  /** This registry as JSON (structured-clone safe), for the supervisor to merge across workers. */
  snapshot(): Promise<unknown> {
    return this.registry.getMetricsAsJSON();
  }

  /** Exposition text of several workers' snapshots: counters and histograms summed, gauges per their aggregator. */
  static async mergeSnapshots(snapshots: readonly unknown[]): Promise<string> {
    for (const snapshot of snapshots) {
      if (!Array.isArray(snapshot)) throw new TypeError('mergeSnapshots expects results of HeraldMetrics.snapshot()');
    }
    return AggregatorRegistry.aggregate(snapshots as object[]).metrics();
  }

  private registerDefaultMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
    // promtool rejects non-counters named *_total (nodejs_active_handles_total,
    // nodejs_active_requests_total, nodejs_active_resources_total); the per-type gauges
    // without the suffix carry the same numbers. prom-client's d.ts types `type` as a
    // numeric enum, but at run time it is the string, hence String().
    for (const metric of this.registry.getMetricsAsArray()) {
      if (metric.name.endsWith('_total') && String(metric.type) !== 'counter') {
        this.registry.removeSingleMetric(metric.name);
      }
    }
  }

  private registerGauges(sources: MetricsSources, classes: readonly string[]): void {
    const transports = this.transports;
    new Gauge({
      name: 'herald_connections_open',
      help: 'Open client connections by transport and client class.',
      labelNames: ['transport', 'class'],
      registers: [this.registry],
      collect() {
        const counts = new Map<string, { transport: TransportName; cls: string; count: number }>();
        for (const transport of transports) {
          for (const cls of classes) counts.set(`${transport}\0${cls}`, { transport, cls, count: 0 });
        }
        for (const { transport, clientClass, count } of sources.connections()) {
          const cls = classes.includes(clientClass) ? clientClass : OTHER;
          const entry = counts.get(`${transport}\0${cls}`);
          if (entry === undefined) counts.set(`${transport}\0${cls}`, { transport, cls, count });
          else entry.count += count;
        }
        this.reset();
        for (const { transport, cls, count } of counts.values()) this.set({ transport, class: cls }, count);
      },
    });
    this.gauge('herald_subscriptions', 'Local subscriptions (connection × channel pairs).', 'sum', () => sources.subscriptions());
    this.gauge('herald_channels', 'Channels with at least one local subscriber or a lingering broker subscription.', 'sum', () => sources.channels());
    this.gauge('herald_polls_held', 'Long-poll requests currently held open.', 'sum', () => sources.pollsHeld());
    // Across workers, 1 only if every worker's broker link is up.
    this.gauge('herald_broker_connected', '1 when the broker subscriber link is up, else 0.', 'min', () => (sources.brokerConnected() ? 1 : 0));
  }

  private gauge(name: string, help: string, aggregator: Aggregator, read: () => number): void {
    new Gauge({ name, help, aggregator, registers: [this.registry], collect() { this.set(read()); } });
  }

  private registerCounters(): void {
    const t = this.transports;
    this.counter('herald_messages_received_total', 'Messages received from the broker.', [], () => [[{}, this.received]]);
    this.counter('herald_messages_delivered_total', 'Messages written to clients, by transport.', ['transport'], () => rowsOf('transport', this.deliveredBy, t));
    this.counter('herald_messages_dropped_total', 'Messages not delivered, by reason.', ['reason'], () => rowsOf('reason', this.drops, DROP_REASONS));
    this.counter('herald_connections_opened_total', 'Client connections opened, by transport and client class.', ['transport', 'class'], () => this.openedRows());
    this.counter('herald_connections_closed_total', 'Client connections closed, by transport and reason.', ['transport', 'reason'], () => this.closedRows());
    this.counter('herald_slow_consumer_disconnects_total', 'Connections dropped for exceeding the unsent-bytes bound.', ['transport'], () => rowsOf('transport', this.slowConsumers, t));
    this.counter('herald_broker_reconnects_total', 'Broker subscriber link reconnects.', [], () => [[{}, this.reconnects]]);
    this.counter('herald_broker_probe_missed_total', 'Liveness probes not seen back in time on the broker link.', [], () => [[{}, this.probesMissed]]);
    this.counter('herald_auth_failures_total', 'Authentication and authorisation failures, by error code.', ['reason'], () => rowsOfMap('reason', this.authFailures));
    this.counter('herald_client_errors_total', 'Errors sent to clients, by error code.', ['code'], () => rowsOfMap('code', this.clientErrors));
    this.counter('herald_poll_holds_total', 'Long-polls that were held, by how the hold ended.', ['outcome'], () => rowsOf('outcome', this.pollHolds, POLL_OUTCOMES));
    this.counter('herald_publish_requests_total', 'POST /publish requests, by outcome.', ['outcome'], () => rowsOf('outcome', this.publishes, PUBLISH_OUTCOMES));
  }

  /** A prom-client Counter mirroring plain numbers: copied at scrape time, so values stay monotonic. */
  private counter(name: string, help: string, labelNames: readonly string[], rows: () => Iterable<Row>): void {
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of rows()) this.inc(labels, value);
      },
    });
  }

  private *openedRows(): Iterable<Row> {
    for (const [cls, byTransport] of this.opened) {
      const always = cls === OTHER ? [] : this.transports;
      for (const [labels, value] of rowsOf('transport', byTransport, always)) yield [{ ...labels, class: cls }, value];
    }
  }

  private *closedRows(): Iterable<Row> {
    for (const transport of ALL_TRANSPORTS) {
      const always = this.transports.includes(transport) ? CLOSE_REASONS : [];
      for (const [labels, value] of rowsOf('reason', this.closed[transport], always)) yield [{ transport, ...labels }, value];
    }
  }
}
