import { performance } from 'node:perf_hooks';
import { checkAccess, publishAllowed } from './auth/access.js';
import { msUntilExpiry, TokenVerifier } from './auth/jwt.js';
import { MemoryBroker } from './broker/memory.js';
import { RedisBroker } from './broker/redis.js';
import { ClientClassifier } from './client-class.js';
import type { Config } from './config/types.js';
import { HeraldError, isHeraldError } from './errors.js';
import { MemoryHistory } from './history/memory.js';
import { RedisStreamStore } from './history/redis-stream.js';
import { CorsPolicy } from './http/cors.js';
import { healthz, readyz } from './http/health.js';
import { publishHandler } from './http/publish.js';
import { isLoopback, readRequest } from './http/request.js';
import { HttpServer, writeError } from './http/server.js';
import { Hub } from './hub/hub.js';
import { InterestTracker, realScheduler } from './hub/interest.js';
import type { Broker } from './hub/ports.js';
import { newEpoch, newTag } from './hub/position.js';
import type { TransportName } from './hub/subscriber.js';
import type { Logger } from './log.js';
import { HeraldMetrics } from './metrics/metrics.js';
import { Router, type Route } from './rules/router.js';
import { ALLOWED_FOREVER, type AuthResult, type Authorizer } from './transport/authorize.js';
import { ConnectionLimiter } from './transport/connection-limit.js';
import type { TransportContext } from './transport/context.js';
import { PollTransport } from './transport/poll.js';
import { StreamTransport } from './transport/stream.js';
import { NDJSON_FORMAT, SSE_FORMAT } from './transport/stream-format.js';
import { WsTransport } from './transport/ws.js';

const LATENCY_SAMPLE_EVERY = 64;

/** Optional behaviour a supervisor plugs in (see src/supervisor/). */
export interface DaemonHooks {
  /** Text served by GET /metrics instead of this process's registry (a worker serves all workers' merged metrics). */
  readonly metricsText?: () => Promise<string>;
}

/**
 * Composition root: the only module that knows the concrete classes. Builds the broker,
 * history, hub, router, transports and HTTP server from one Config; owns start, SIGHUP
 * reload, drain and stop.
 */
export class Daemon {
  private config: Config;
  private readonly broker: Broker;
  private readonly hub: Hub;
  private readonly interest: InterestTracker;
  private readonly http: HttpServer;
  private readonly ctx: TransportContext;
  private readonly sse: StreamTransport;
  private readonly ndjson: StreamTransport;
  private readonly ws: WsTransport;
  private readonly poll: PollTransport;
  private readonly metrics: HeraldMetrics;
  private verifier: TokenVerifier;
  private draining = false;
  private metricsServer: HttpServer | null = null;
  private readonly sweeper: NodeJS.Timeout;
  private readonly history: MemoryHistory;
  private readonly durable: RedisStreamStore | null;
  port = 0;

  private constructor(
    config: Config,
    verifier: TokenVerifier,
    private readonly log: Logger,
    private readonly hooks: DaemonHooks,
  ) {
    this.config = config;
    this.verifier = verifier;
    const classifier = new ClientClassifier(config.classes);
    const sources = {
      connections: () => this.connectionCounts(),
      subscriptions: () => {
        const ws = this.ws.subscriptionCounts();
        return this.hub.subscriptions - ws.groups + ws.sockets;
      },
      channels: () => this.hub.channelCount,
      brokerConnected: () => this.broker.status === 'ready',
      pollsHeld: () => this.poll.held,
    };
    this.metrics = new HeraldMetrics(sources, { defaultMetrics: true, classes: classifier.names });
    const metrics = this.metrics;
    this.broker =
      config.broker.kind === 'redis'
        ? new RedisBroker(config.broker, log, {
            reconnect: () => metrics.brokerReconnect(),
            probeMissed: () => metrics.brokerProbeMissed(),
          })
        : new MemoryBroker(log);
    // Durable channels need Redis; on the memory broker `history.store: redis` is the in-process history.
    this.durable = config.broker.kind === 'redis' ? new RedisStreamStore(config.broker.url, log) : null;
    const history = (this.history = new MemoryHistory());
    history.maxAgeMs = maxHistoryAge(config);
    // Busy channels expire on append; this frees the rings of channels that went quiet.
    this.sweeper = setInterval(() => history.sweep(performance.now()), 30_000);
    this.sweeper.unref();
    let hubRef: Hub | null = null;
    this.interest = new InterestTracker(
      {
        subscribe: (list) => hubRef?.edges.subscribe(list),
        unsubscribe: (list) => hubRef?.edges.unsubscribe(list),
      },
      realScheduler,
    );
    this.hub = hubRef = new Hub({
      broker: this.broker,
      history,
      interest: this.interest,
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
    this.ctx = {
      hub: this.hub,
      stats: metrics,
      log,
      limiter: new ConnectionLimiter(config.limits.maxConnectionsPerIp),
      router: new Router(config.channels, config.limits.maxChannelLength),
      classifier,
      cors: new CorsPolicy(config.cors),
      limits: config.limits,
      sse: config.sse,
      authorize: this.authorizer(),
      trustedIpHeader: config.server.trustedIpHeader,
    };
    this.http = new HttpServer(log);
    // Whole milliseconds: transports keep times per connection as small integers (see stream.ts).
    const now = (): number => Math.floor(performance.now());
    this.sse = new StreamTransport(this.ctx, now, SSE_FORMAT);
    this.ndjson = new StreamTransport(this.ctx, now, NDJSON_FORMAT);
    this.ws = new WsTransport(this.ctx, this.http.app, now);
    this.poll = new PollTransport(this.ctx, now);
    this.routes();
  }

  static async start(config: Config, log: Logger, hooks: DaemonHooks = {}): Promise<Daemon> {
    const verifier = await TokenVerifier.create(config.jwt);
    const daemon = new Daemon(config, verifier, log, hooks);
    await daemon.broker.start(daemon.hub);
    await daemon.durable?.start();
    daemon.port = await daemon.http.listen(config.server.host, config.server.port);
    await daemon.listenMetrics();
    log.notice('listening', {
      host: config.server.host,
      port: daemon.port,
      broker: config.broker.kind,
      epoch: daemon.hub.epoch,
      tag: daemon.hub.tag,
      pid: process.pid,
    });
    return daemon;
  }

  private routes(): void {
    const http = this.http;
    const cfg = (): Config => this.config;
    http.get('/healthz', (res) => healthz(res));
    http.get('/readyz', readyz({ brokerStatus: () => this.broker.status, isDraining: () => this.draining }));
    http.get('/sse', this.sse.handle);
    http.get('/stream', this.ndjson.handle);
    http.get('/poll', this.poll.handle);
    http.post(
      '/publish',
      publishHandler({
        route: (channel) => this.ctx.router.route(channel),
        authorize: (route, key, loopback) => this.authorizePublish(route, key, loopback),
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
    for (const path of ['/sse', '/stream', '/poll', '/publish']) {
      http.options(path, (res, req) => {
        const origin = req.getHeader('origin');
        res.writeStatus('204 No Content');
        for (const [k, v] of this.ctx.cors.preflightHeaders(origin)) res.writeHeader(k, v);
        res.end();
      });
    }
    if (this.config.metrics.enabled && this.config.metrics.listen === '') {
      http.get('/metrics', (res, req) => this.serveMetrics(res, req));
    }
    http.fallback();
  }

  /** `metrics.listen: host:port` serves /metrics on its own listener, away from client traffic. */
  private async listenMetrics(): Promise<void> {
    const { enabled, listen } = this.config.metrics;
    if (!enabled || listen === '') return;
    const colon = listen.lastIndexOf(':');
    const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
    const server = new HttpServer(this.log);
    server.get('/metrics', (res, req) => this.serveMetrics(res, req));
    server.fallback();
    const port = await server.listen(host, Number(listen.slice(colon + 1)));
    this.metricsServer = server;
    this.log.notice('metrics listening', { host, port });
  }

  private async serveMetrics(res: import('uWebSockets.js').HttpResponse, req: import('uWebSockets.js').HttpRequest): Promise<void> {
    const facts = readRequest(res, req, '');
    const allow = this.config.metrics.allow;
    if (allow.length > 0 && !allow.includes(facts.ip) && !(allow.includes('loopback') && isLoopback(facts.ip))) {
      writeError(res, new HeraldError('not_found'));
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const text = await (this.hooks.metricsText ?? (() => this.metrics.text()))();
    if (aborted) return;
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('Content-Type', this.metrics.contentType).end(text);
    });
  }

  /** This process's registry as JSON, for a supervisor to merge across workers. */
  metricsSnapshot(): Promise<unknown> {
    return this.metrics.snapshot();
  }

  private authorizer(): Authorizer {
    return (routes, token) => {
      if (routes.every((r) => r.rule.access.kind === 'public')) return ALLOWED_FOREVER;
      if (token === '') return this.authFailed(new HeraldError('token_missing'));
      return this.verifier.verify(token).then(
        (claims): AuthResult => {
          for (const route of routes) {
            const denied = checkAccess(route, claims);
            if (denied !== null) return this.authFailed(denied);
          }
          return { error: null, expiresAtMs: Date.now() + msUntilExpiry(claims, Date.now()) };
        },
        (err: unknown): AuthResult => {
          if (!isHeraldError(err)) throw err;
          return this.authFailed(err);
        },
      );
    };
  }

  private authFailed(error: HeraldError): AuthResult {
    this.metrics.authFailure(error.code);
    return { error, expiresAtMs: 0 };
  }

  private authorizePublish(route: Route, key: string, loopback: boolean): HeraldError | null {
    if (key === '' && loopback && this.config.publish.allowLoopback) return null;
    const denied = publishAllowed(this.config.publish.keys, key, route);
    if (denied !== null) this.metrics.authFailure(denied.code);
    return denied;
  }

  private *connectionCounts(): Iterable<{ transport: TransportName; clientClass: string; count: number }> {
    for (const [transport, counts] of [
      ['sse', this.sse.countsByClass()],
      ['ndjson', this.ndjson.countsByClass()],
      ['ws', this.ws.countsByClass()],
      ['poll', this.poll.countsByClass()],
    ] as const) {
      for (const [clientClass, count] of counts) yield { transport, clientClass, count };
    }
  }

  /**
   * Zero-downtime stop: stop accepting, go not-ready, then let every transport tell its
   * clients to reconnect elsewhere, spread over drain.window, bounded by drain.deadline.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const { deadlineMs, windowMs } = this.config.drain;
    this.log.info('draining', { sse: this.sse.size, ndjson: this.ndjson.size, ws: this.ws.size, poll: this.poll.held, windowMs, deadlineMs });
    this.http.stopListening();
    const all = Promise.all([this.sse.drain(windowMs), this.ndjson.drain(windowMs), this.ws.drain(windowMs), this.poll.drain()]);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const outcome = await Promise.race([all.then(() => 'drained' as const), deadline]);
    clearTimeout(timer);
    this.log.info('drain finished', { outcome, sse: this.sse.size, ndjson: this.ndjson.size, ws: this.ws.size, poll: this.poll.held });
  }

  async stop(): Promise<void> {
    this.http.stopListening();
    this.metricsServer?.stopListening();
    clearInterval(this.sweeper);
    this.sse.close();
    this.ndjson.close();
    this.ws.close();
    this.poll.close();
    this.interest.close();
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
    const restartOnly = ['server', 'broker', 'metrics'] as const;
    for (const key of restartOnly) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.config[key])) {
        this.log.warn('config section changed but needs a restart to apply', { section: key });
      }
    }
    this.config = next;
    this.verifier = verifier;
    const router = new Router(next.channels, next.limits.maxChannelLength);
    this.ctx.router = router;
    this.ctx.classifier = new ClientClassifier(next.classes);
    this.ctx.cors = new CorsPolicy(next.cors);
    this.ctx.limits = next.limits;
    this.ctx.sse = next.sse;
    this.ctx.limiter.setMax(next.limits.maxConnectionsPerIp);
    this.hub.setLimits({ maxMessageBytes: next.limits.maxMessageBytes, replayMax: replayMax(next) });
    this.history.maxAgeMs = maxHistoryAge(next);
    this.ctx.authorize = this.authorizer();
    const ended = this.sse.revalidate(router) + this.ndjson.revalidate(router) + this.ws.revalidate(router) + this.poll.revalidate(router);
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
