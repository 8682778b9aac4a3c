/**
 * Herald's Prometheus registry: its own prom-client Registry (not the global one), the
 * gauges read from `MetricsSources` at scrape time, the latency histogram, and a Counter per
 * record of `MetricCounters` (counters.ts), copied at scrape time. The hot path only ever
 * touches those plain numbers. Merging workers' snapshots is merge.ts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Aggregator } from 'prom-client';
import type { TransportName } from '../hub/subscriber.js';
import { ALL_TRANSPORTS, MetricCounters, OTHER, type Row } from './counters.js';
import { mergeSnapshots } from './merge.js';

/** Read at scrape time (inside `collect()`), so keeping these numbers costs the hot path nothing. */
export interface MetricsSources {
  connections(): Iterable<{ readonly transport: TransportName; readonly clientClass: string; readonly count: number }>;
  subscriptions(): number;
  channels(): number;
  brokerConnected(): boolean;
  pollsHeld(): number;
  /** Redis Cluster shard masters and whether each link is ready; absent for a single-link broker. */
  brokerShards?(): Iterable<{ readonly node: string; readonly ready: boolean }>;
}

export interface HeraldMetricsOptions {
  /** Include prom-client's process and Node.js metrics (minus the ones promtool rejects). */
  readonly defaultMetrics: boolean;
  /** Transports whose series are exported at zero from the start. @default all four */
  readonly transports?: readonly TransportName[];
  /** Configured client class names: the closed set of the `class` label. */
  readonly classes: readonly string[];
}

/** 0.1 ms … 5 s: loopback fan-out sits in the sub-millisecond buckets, a stalled loop in the top ones. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class HeraldMetrics extends MetricCounters {
  private readonly registry = new Registry();
  private readonly latency: Histogram;

  constructor(sources: MetricsSources, opts: HeraldMetricsOptions) {
    super(opts.transports ?? ALL_TRANSPORTS, opts.classes);
    if (opts.defaultMetrics) this.registerDefaultMetrics();
    this.registerGauges(sources, opts.classes);
    for (const [name, help, labelNames, rows] of this.counterDefinitions()) this.counter(name, help, labelNames, rows);
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

  /** Called for a sample of deliveries only (the caller picks, e.g. 1 in 64 messages). */
  observeLatency(seconds: number): void {
    this.latency.observe(seconds);
  }

  /** This registry as JSON (structured-clone safe), for the supervisor to merge across workers. */
  snapshot(): Promise<unknown> {
    return this.registry.getMetricsAsJSON();
  }

  /** See merge.ts. */
  static mergeSnapshots(snapshots: readonly unknown[]): Promise<string> {
    return mergeSnapshots(snapshots);
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
    const shards = sources.brokerShards?.bind(sources);
    if (shards !== undefined) {
      this.gauge('herald_broker_shards', 'Redis Cluster shard masters, each with one subscriber link per process.', 'max', () => [...shards()].length);
      new Gauge({
        name: 'herald_broker_shard_up',
        help: '1 when the subscriber link to this shard master is ready, else 0.',
        labelNames: ['shard'],
        aggregator: 'min',
        registers: [this.registry],
        collect() {
          this.reset();
          for (const s of shards()) this.set({ shard: s.node }, s.ready ? 1 : 0);
        },
      });
    }
  }

  private gauge(name: string, help: string, aggregator: Aggregator, read: () => number): void {
    new Gauge({ name, help, aggregator, registers: [this.registry], collect() { this.set(read()); } });
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
}
