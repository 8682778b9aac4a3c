import { performance } from 'node:perf_hooks';
import { publishAuthorizer, subscribeAuthorizer } from './auth/authorizers.js';
import { TokenVerifier } from './auth/jwt.js';
import { AddressAllowList } from './net/address-allow.js';
import { MemoryBroker } from './broker/memory.js';
import { RedisBroker } from './broker/redis.js';
import { RedisClusterBroker, type ShardInfo } from './broker/redis-cluster.js';
import { ClientClassifier } from './client-class.js';
import type { Config } from './config/types.js';
import { RESTART_ONLY_SECTIONS } from './config/schema.js';
import { isHeraldError } from './errors.js';
import { MemoryHistory } from './history/memory.js';
import { RedisStreamStore } from './history/redis-stream.js';
import { CorsPolicy, preflightHandler } from './http/cors.js';
import { healthz, readyz } from './http/health.js';
import { listenMetrics, metricsHandler, type MetricsEndpointDeps } from './http/metrics-endpoint.js';
import { pageRoutes } from './http/page-routes.js';
import { publishHandler } from './http/publish.js';
import { HttpServer, type RequestScreenHooks } from './http/server.js';
import { Hub } from './hub/hub.js';
import { realScheduler } from './hub/interest.js';
import type { Broker } from './hub/ports.js';
import type { TransportName } from './hub/subscriber.js';
import { newEpoch, newTag } from './hub/position.js';
import type { Logger } from './log.js';
import { HeraldMetrics } from './metrics/metrics.js';
import { Router } from './rules/router.js';
import { ConnectionLimiter } from './transport/connection-limit.js';
import type { Transport, TransportContext } from './transport/context.js';
import { guarded } from './transport/lifecycle/timers.js';
import { PollTransport } from './transport/poll.js';
import { StreamTransport } from './transport/stream.js';
import { NDJSON_FORMAT, SSE_FORMAT } from './transport/stream-format.js';
import { WsTransport } from './transport/ws.js';

const LATENCY_SAMPLE_EVERY = 64;

/** Optional behaviour a supervisor plugs in (see src/supervisor/). */
export interface DaemonHooks {
  /** Text served by GET /metrics instead of this process's registry (a worker serves all workers' merged metrics). */
  readonly metricsText?: () => Promise<string>;
  /** Bind the client port with SO_REUSEPORT (a `--workers` worker shares it with its siblings). */
  readonly sharePort?: boolean;
}

/**
 * Composition root: the only module that knows the concrete classes. Builds the broker,
 * history, hub, router, transports and HTTP server from one Config; owns start, SIGHUP
 * reload, drain and stop. Decisions live in the modules it wires (auth/, http/, transport/).
 */
export class Daemon {
  private config: Config;
  private readonly broker: Broker;
  private readonly history = new MemoryHistory();
  /** Shard masters of a sharded cluster broker (for /readyz and metrics); empty otherwise. */
  private readonly shards: () => ShardInfo[];
  private readonly hub: Hub;
  private readonly http: HttpServer;
  private readonly ctx: TransportContext;
  private readonly ws: WsTransport;
  private readonly poll: PollTransport;
  /** SSE, NDJSON, WS, poll: driven alike for drain, reload, stop and counts. */
  private readonly transports: readonly Transport[];
  private readonly metrics: HeraldMetrics;
  private readonly scrape: MetricsEndpointDeps;
  private draining = false;
  private metricsServer: HttpServer | null = null;
  private readonly sweeper: NodeJS.Timeout;
  private readonly durable: RedisStreamStore | null;
  port = 0;

  private constructor(config: Config, verifier: TokenVerifier, private readonly log: Logger, hooks: DaemonHooks) {
    this.config = config;
    const metrics = (this.metrics = new HeraldMetrics(
      {
        connections: () => this.connectionCounts(),
        subscriptions: () => {
          // The hub counts one subscriber per WS channel (a topic group): count sockets instead.
          const ws = this.ws.subscriptionCounts();
          return this.hub.subscriptions - ws.groups + ws.sockets;
        },
        channels: () => this.hub.channelCount,
        brokerConnected: () => this.broker.status === 'ready',
        pollsHeld: () => this.poll.size,
        ...(config.broker.kind === 'cluster' && config.broker.cluster.mode === 'sharded' && {
          brokerShards: () => this.shards().map((s) => ({ node: s.node, ready: s.status === 'ready' })),
        }),
      },
      { defaultMetrics: true, classes: config.classes.list.map((c) => c.name) },
    ));
    // metrics.allow needs a restart to change, like the rest of `metrics`.
    const metricsAllow = new AddressAllowList(config.metrics.allow);
    this.scrape = { allows: (ip) => metricsAllow.allows(ip), text: hooks.metricsText ?? (() => metrics.text()), contentType: metrics.contentType };
    const brokerStats = { reconnect: () => metrics.brokerReconnect(), probeMissed: () => metrics.brokerProbeMissed() };
    const sharded = config.broker.kind === 'cluster' && config.broker.cluster.mode === 'sharded' ? new RedisClusterBroker(config.broker, log, brokerStats) : null;
    this.shards = () => sharded?.shards() ?? [];
    this.broker = sharded ?? (config.broker.kind === 'memory' ? new MemoryBroker(log) : new RedisBroker(config.broker, log, brokerStats));
    // Durable channels need broker.type redis (one node); elsewhere `history.store: redis`
    // is the in-process history, and check-config says so (docs/resume.md).
    this.durable = config.broker.kind === 'redis' ? new RedisStreamStore(config.broker, log) : null;
    this.history.maxAgeMs = maxHistoryAge(config);
    // Busy channels expire on append; this frees the rings of channels that went quiet.
    this.sweeper = setInterval(guarded(log, 'history sweep', () => this.history.sweep(performance.now())), 30_000);
    this.sweeper.unref();
    this.hub = new Hub({
      broker: this.broker,
      history: this.history,
      scheduler: realScheduler,
      epoch: newEpoch(Date.now(), Math.random),
      tag: newTag(Math.random),
      wallClock: Date.now,
      clock: () => performance.now(),
      log,
      stats: metrics,
      maxMessageBytes: config.limits.maxMessageBytes,
      replayMax: replayMax(config),
      latencySampleEvery: LATENCY_SAMPLE_EVERY,
      durable: this.durable,
    });
    const limiter = new ConnectionLimiter(config.limits.maxConnectionsPerIp);
    this.ctx = { hub: this.hub, stats: metrics, log, limiter, brokerUp: () => this.broker.status === 'ready', trustedIpHeader: config.server.trustedIpHeader, ...this.reloadable(config, verifier) };
    this.http = new HttpServer(log, this.requestScreen());
    // Whole milliseconds: transports keep times per connection as small integers (see stream-connection.ts).
    const now = (): number => Math.floor(performance.now());
    const sse = new StreamTransport(this.ctx, now, SSE_FORMAT);
    const ndjson = new StreamTransport(this.ctx, now, NDJSON_FORMAT);
    this.ws = new WsTransport(this.ctx, this.http.app, now);
    this.poll = new PollTransport(this.ctx, now);
    this.transports = [sse, ndjson, this.ws, this.poll];
    this.routes(sse, ndjson);
  }

  /** The parts of the transport context a SIGHUP replaces in place. */
  private reloadable(config: Config, verifier: TokenVerifier): Pick<TransportContext, 'router' | 'classifier' | 'cors' | 'limits' | 'sse' | 'authorize'> {
    return {
      router: new Router(config.channels, config.limits.maxChannelLength),
      classifier: new ClientClassifier(config.classes),
      cors: new CorsPolicy(config.cors),
      limits: config.limits,
      sse: config.sse,
      authorize: subscribeAuthorizer(verifier, (err) => this.metrics.authFailure(err.code)),
    };
  }

  static async start(config: Config, log: Logger, hooks: DaemonHooks = {}): Promise<Daemon> {
    const daemon = new Daemon(config, await TokenVerifier.create(config.jwt), log, hooks);
    await daemon.broker.start(daemon.hub);
    await daemon.durable?.start();
    daemon.port = await daemon.http.listen(config.server.host, config.server.port, hooks.sharePort === true || config.server.reusePort);
    const { enabled, listen } = config.metrics;
    if (enabled && listen !== '') daemon.metricsServer = await listenMetrics(listen, daemon.scrape, log, daemon.requestScreen(), hooks.sharePort === true);
    log.notice('listening', { host: config.server.host, port: daemon.port, broker: config.broker.kind, epoch: daemon.hub.epoch, tag: daemon.hub.tag, pid: process.pid });
    return daemon;
  }

  private routes(sse: StreamTransport, ndjson: StreamTransport): void {
    const http = this.http;
    const cfg = (): Config => this.config;
    http.get('/healthz', (res) => healthz(res));
    http.get('/readyz', readyz({ brokerStatus: () => this.broker.status, isDraining: () => this.draining, brokerShards: () => this.shards() }));
    http.get('/sse', sse.handle);
    http.get('/stream', ndjson.handle);
    http.get('/poll', this.poll.handle);
    http.post(
      '/publish',
      publishHandler({
        route: (channel) => {
          const route = this.ctx.router.route(channel);
          if (isHeraldError(route) && route.code === 'channel_denied') this.metrics.authFailure(route.code);
          return route;
        },
        authorize: publishAuthorizer(() => cfg().publish, (err) => this.metrics.authFailure(err.code)),
        publish: (route, payload) =>
          this.durable !== null && route.rule.history.store === 'redis'
            ? this.durable.publish(route.redisChannel, payload, route.rule.history)
            : this.broker.publish(route.redisChannel, payload),
        count: (outcome) => this.metrics.publishRequest(outcome),
        maxBodyBytes: () => cfg().limits.maxPublishBodyBytes,
        cors: () => this.ctx.cors,
        enabled: () => cfg().publish.enabled,
        trustedIpHeader: () => cfg().server.trustedIpHeader,
        log: this.log,
      }),
    );
    const preflight = preflightHandler(() => this.ctx.cors);
    for (const path of ['/sse', '/stream', '/poll', '/publish']) http.options(path, preflight);
    pageRoutes(http, this.config.livePage.enabled, this.log);
    if (this.config.metrics.enabled && this.config.metrics.listen === '') http.get('/metrics', metricsHandler(this.scrape));
    http.fallback();
  }

  /** Limits read at request time, so a reload applies them to the next request. */
  private requestScreen(): RequestScreenHooks {
    return {
      limits: () => this.ctx.limits,
      trustedIpHeader: () => this.ctx.trustedIpHeader,
      refused: (code) => this.metrics.clientError(code),
    };
  }

  /** This process's registry as JSON, for a supervisor to merge across workers. */
  metricsSnapshot(): Promise<unknown> {
    return this.metrics.snapshot();
  }

  private *connectionCounts(): Iterable<{ transport: TransportName; clientClass: string; count: number }> {
    for (const t of this.transports) for (const [clientClass, count] of t.countsByClass()) yield { transport: t.name, clientClass, count };
  }

  private sizes(): Record<string, number> {
    return Object.fromEntries(this.transports.map((t) => [t.name, t.size]));
  }

  /**
   * Zero-downtime stop: stop accepting, go not-ready, then let every transport tell its
   * clients to reconnect elsewhere, spread over drain.window, bounded by drain.deadline.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const { deadlineMs, windowMs } = this.config.drain;
    this.log.info('draining', { ...this.sizes(), windowMs, deadlineMs });
    this.http.stopListening();
    const all = Promise.all(this.transports.map((t) => t.drain(windowMs)));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const outcome = await Promise.race([all.then(() => 'drained' as const), deadline]);
    clearTimeout(timer);
    this.log.info('drain finished', { outcome, ...this.sizes() });
  }

  async stop(): Promise<void> {
    this.http.stopListening();
    this.metricsServer?.stopListening();
    clearInterval(this.sweeper);
    for (const t of this.transports) t.close();
    this.hub.close();
    await this.broker.close();
    await this.durable?.close();
    this.log.notice('stopped');
  }

  /**
   * SIGHUP: swap rules, classes, CORS, limits and keys in place. Open connections keep their
   * subscriptions unless the new rules no longer allow them (transports end those).
   * Listener, broker and metrics settings need a restart (logged).
   */
  async reload(next: Config): Promise<void> {
    const verifier = await TokenVerifier.create(next.jwt);
    for (const key of RESTART_ONLY_SECTIONS) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.config[key])) {
        this.log.warn('config section changed but needs a restart to apply', { section: key });
      }
    }
    this.config = next;
    const { router } = Object.assign(this.ctx, this.reloadable(next, verifier));
    this.ctx.limiter.setMax(next.limits.maxConnectionsPerIp);
    this.hub.setLimits({ maxMessageBytes: next.limits.maxMessageBytes, replayMax: replayMax(next) });
    this.history.maxAgeMs = maxHistoryAge(next);
    // One unit across transports: subscriptions (connection × channel) ended.
    const ended = this.transports.reduce((sum, t) => sum + t.revalidate(router), 0);
    this.log.info('config reloaded', { file: next.file, endedSubscriptions: ended });
  }
}

/** The longest replay any rule can need: its history size. */
function replayMax(config: Config): number {
  return Math.max(1, ...config.channels.map((r) => r.history.size));
}

/** The sweep's age bound: the longest any rule keeps history. */
function maxHistoryAge(config: Config): number {
  return Math.max(1000, ...config.channels.map((r) => r.history.maxAgeMs));
}
