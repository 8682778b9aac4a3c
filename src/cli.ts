import { Command, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { explainAccess } from './auth/explain.js';
import { TokenVerifier } from './auth/jwt.js';
import { describeConfig } from './config/describe.js';
import { formatIssue, loadConfig, type ConfigOverrides } from './config/load.js';
import type { Config, LogLevel } from './config/types.js';
import type { Daemon } from './daemon.js';
import { createLogger, type Logger } from './log.js';
import { Router } from './rules/router.js';
import { WORKER_ENV } from './supervisor/ipc.js';
import { Supervisor } from './supervisor/supervisor.js';
import { WorkerLink } from './supervisor/worker-link.js';

/** Exit codes: 0 ok, 1 configuration problem (do not restart), 2 runtime failure. */
export const EXIT_OK = 0;
export const EXIT_CONFIG = 1;
export const EXIT_RUNTIME = 2;

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  out(text: string): void;
  err(text: string): void;
  /** Resolves with the exit code once the command is done (start: after drain and stop). */
  exit(code: number): void;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be an integer 0..65535');
  return n;
}

/** `auto` is the number of cores; the default stays 1 (embedded use and tests rely on one process). */
function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('must be an integer 1..256');
  return n;
}

/** Loads and validates; prints every issue; null when there are errors. */
function load(io: CliIo, file: string | null, overrides: ConfigOverrides): Config | null {
  const { config, issues } = loadConfig({ file, env: io.env, overrides });
  for (const issue of issues) io.err(formatIssue(issue) + '\n');
  return config;
}

export function buildCli(io: CliIo): Command {
  const program = new Command('herald')
    .description('Pub/sub fan-out gateway: Redis PUBLISH to browsers over WebSocket, SSE and long-poll')
    .version(readVersion())
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });

  program
    .command('start')
    .description('run the gateway (embedded memory broker unless the config or --redis says otherwise)')
    .option('-c, --config <file>', 'YAML config file (default: $HERALD_CONFIG, else built-in defaults)')
    .option('--host <host>', 'listen address (overrides server.host)')
    .option('--port <port>', 'listen port, 0 for any free port (overrides server.port)', parsePort)
    .option('--redis <url>', 'use the Redis broker at this URL (overrides broker.type and broker.url)')
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent (overrides log.level)')
    .option('--workers <n>', 'processes sharing the port (SO_REUSEPORT), or `auto` for one per core; default 1', parseWorkers)
    .action(async (opts: { config?: string; host?: string; port?: number; redis?: string; logLevel?: string; workers?: number }) => {
      const file = opts.config ?? io.env.HERALD_CONFIG ?? null;
      const overrides: ConfigOverrides = {
        ...(opts.host !== undefined && { host: opts.host }),
        ...(opts.port !== undefined && { port: opts.port }),
        ...(opts.redis !== undefined && { redisUrl: opts.redis }),
        ...(opts.logLevel !== undefined && { logLevel: opts.logLevel as LogLevel }),
      };
      const config = load(io, file, overrides);
      if (config === null) return io.exit(EXIT_CONFIG);
      const log = createLogger(config.log.level);
      const reload = (): Config | null => load(io, file, overrides);
      const isWorker = (io.env[WORKER_ENV] ?? '') !== '';
      if ((opts.workers ?? 1) > 1 && !isWorker) {
        const workerArgs = [
          'start',
          ...(file !== null ? ['--config', file] : []),
          ...(opts.host !== undefined ? ['--host', opts.host] : []),
          ...(opts.redis !== undefined ? ['--redis', opts.redis] : []),
          ...(opts.logLevel !== undefined ? ['--log-level', opts.logLevel] : []),
        ];
        await runSupervisor(io, config, log, opts.workers ?? 1, workerArgs, reload);
        return;
      }
      await runDaemon(io, config, log, reload, isWorker);
    });

  program
    .command('check-config')
    .description('validate a config file; print the compiled rules and client classes')
    .argument('[file]', 'YAML config file')
    .option('-c, --config <file>', 'YAML config file (same as the argument, as in `herald start --config`)')
    .action((given: string | undefined, opts: { config?: string }) => {
      const file = opts.config ?? given ?? io.env.HERALD_CONFIG;
      if (file === undefined) {
        io.err('check-config needs a file: herald check-config FILE (or --config FILE)\n');
        return io.exit(EXIT_CONFIG);
      }
      if (opts.config !== undefined && given !== undefined && given !== opts.config) {
        io.err(`check-config: two different files given (${given} and --config ${opts.config}); give one\n`);
        return io.exit(EXIT_CONFIG);
      }
      const config = load(io, file, {});
      if (config === null) return io.exit(EXIT_CONFIG);
      io.out(`${file}: ok\n` + describeConfig(config) + '\n');
      io.exit(EXIT_OK);
    });

  program
    .command('check-access')
    .description('say whether a channel may be subscribed, with a token or without, and why')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .requiredOption('--channel <channel>', 'client channel name')
    .option('--token <jwt>', 'JWT to evaluate (never logged)')
    .action(async (opts: { config: string; channel: string; token?: string }) => {
      const config = load(io, opts.config, {});
      if (config === null) return io.exit(EXIT_CONFIG);
      const verifier = await TokenVerifier.create(config.jwt);
      const router = new Router(config.channels, config.limits.maxChannelLength);
      const result = await explainAccess(router, verifier, opts.channel, opts.token ?? '', Date.now());
      // explainAccess's last line is the verdict (allowed / denied: why).
      io.out(result.lines.join('\n') + '\n');
      io.exit(result.allowed ? EXIT_OK : EXIT_CONFIG);
    });

  return program;
}

/** Runs until SIGTERM/SIGINT (drain, then stop) ; SIGHUP reloads the config file. */
async function runDaemon(io: CliIo, config: Config, log: Logger, reload: () => Config | null, isWorker: boolean): Promise<void> {
  // A worker serves every worker's merged metrics, gathered by the supervisor over IPC.
  const link =
    isWorker && process.send !== undefined
      ? new WorkerLink(
          {
            send: (message) => process.connected && (process.send?.(message) ?? false),
            on: (event, listener) => process.on(event, listener),
            off: (event, listener) => process.off(event, listener),
          },
          log,
        )
      : null;
  // Loaded here, not at the top: check-config and check-access never load uWebSockets.js,
  // ioredis or prom-client, so they answer in a third of the time.
  const { Daemon: DaemonClass } = await import('./daemon.js');
  const daemon: Daemon = await DaemonClass.start(config, log, link !== null ? { metricsText: link.metricsText, sharePort: true } : { sharePort: isWorker });
  link?.attach(() => daemon.metricsSnapshot());
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('signal received', { signal });
    daemon
      .drain()
      .then(() => daemon.stop())
      .then(
        () => io.exit(EXIT_OK),
        (err: unknown) => {
          log.error('shutdown failed', { err: err as Error });
          io.exit(EXIT_RUNTIME);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // The supervisor is gone (killed): nobody would restart or scrape us, so drain and leave.
  if (link !== null) process.once('disconnect', () => shutdown('disconnect'));
  process.on('SIGHUP', () => {
    const next = reload();
    if (next === null) {
      log.error('config reload refused: the file has errors (printed above); the old config stays in force');
      return;
    }
    daemon.reload(next).catch((err: unknown) => log.error('config reload failed; the old config stays in force', { err: err as Error }));
  });
}

/** `--workers N` with N > 1: this process only supervises; the workers run the daemon. */
async function runSupervisor(
  io: CliIo,
  config: Config,
  log: Logger,
  workers: number,
  workerArgs: readonly string[],
  reload: () => Config | null,
): Promise<void> {
  if (config.broker.kind === 'memory') {
    log.warn('several workers with the memory broker: a message published to one worker reaches only its clients; use Redis (broker.type: redis)', { workers });
  }
  const supervisor = new Supervisor({
    workers,
    host: config.server.host,
    port: config.server.port,
    workerArgs,
    env: io.env,
    drainDeadlineMs: config.drain.deadlineMs,
    log,
  });
  process.on('SIGTERM', () => supervisor.drain('SIGTERM'));
  process.on('SIGINT', () => supervisor.drain('SIGINT'));
  process.on('SIGHUP', () => {
    // Validated once here so a bad file is reported once, not once per worker.
    if (reload() === null) {
      log.error('config reload refused: the file has errors (printed above); the old config stays in force');
      return;
    }
    supervisor.reload();
  });
  io.exit(await supervisor.run());
}

function readVersion(): string {
  const url = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}
