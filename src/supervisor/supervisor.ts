import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { mergeSnapshots } from '../metrics/merge.js';
import { isWorkerMessage, WORKER_ENV, type PrimaryToWorker } from './ipc.js';

/** First restart delay after a crash; doubles per consecutive crash up to MAX. */
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** A worker that ran this long before dying starts the backoff over. */
const STABLE_AFTER_MS = 10_000;
/** How long the primary waits for each worker's snapshot before merging what it has. */
const SNAPSHOT_TIMEOUT_MS = 2000;
/** Past the drain deadline, stragglers get this long before SIGKILL. */
const KILL_GRACE_MS = 5000;

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

export interface SupervisorOptions {
  readonly workers: number;
  readonly host: string;
  /** 0: the primary picks a free port first so every worker binds the same one. */
  readonly port: number;
  /** `herald start` arguments for a worker, without --port (the supervisor adds it). */
  readonly workerArgs: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly drainDeadlineMs: number;
  readonly log: Logger;
}

interface Slot {
  readonly index: number;
  child: ChildProcess | null;
  startedAt: number;
  crashes: number;
  restartTimer: NodeJS.Timeout | null;
}

type Status = 'running' | 'draining' | 'stopped';

/**
 * The primary of `herald start --workers N`: forks N workers of dist/main.js on one port
 * (uWebSockets.js binds with SO_REUSEPORT on Linux, so the kernel spreads connections),
 * restarts a dead worker with exponential backoff, forwards SIGTERM/SIGINT (drain) and SIGHUP
 * (each worker reloads the file itself), and merges the workers' metrics for GET /metrics.
 */
export class Supervisor {
  private readonly slots: Slot[] = [];
  private status: Status = 'running';
  private port = 0;
  private nextCollect = 1;
  private exitCode = 0;
  private finished: (code: number) => void = () => {};

  constructor(private readonly opts: SupervisorOptions) {}

  /** Starts the workers; resolves with the exit code once all have exited after a drain. */
  async run(): Promise<number> {
    this.port = this.opts.port !== 0 ? this.opts.port : await pickFreePort(this.opts.host);
    this.opts.log.notice('supervisor started', { workers: this.opts.workers, host: this.opts.host, port: this.port, pid: process.pid });
    const done = new Promise<number>((resolve) => (this.finished = resolve));
    for (let i = 0; i < this.opts.workers; i++) {
      const slot: Slot = { index: i, child: null, startedAt: 0, crashes: 0, restartTimer: null };
      this.slots.push(slot);
      this.spawn(slot);
    }
    return done;
  }

  /** SIGTERM/SIGINT: every worker drains on its own; the primary waits, then exits. */
  drain(signal: NodeJS.Signals): void {
    if (this.status !== 'running') return;
    this.status = 'draining';
    this.opts.log.info('supervisor draining', { signal, workers: this.live().length });
    for (const slot of this.slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
    }
    for (const child of this.live()) child.kill(signal);
    const killer = setTimeout(() => {
      for (const child of this.live()) {
        this.opts.log.error('worker still running after the drain deadline; killing it', { pid: child.pid });
        child.kill('SIGKILL');
      }
    }, this.opts.drainDeadlineMs + KILL_GRACE_MS);
    killer.unref();
    this.finishIfIdle();
  }

  /** SIGHUP: each worker re-reads and validates the config file; a bad file is refused per worker. */
  reload(): void {
    if (this.status !== 'running') return;
    this.opts.log.info('supervisor forwarding SIGHUP', { workers: this.live().length });
    for (const child of this.live()) child.kill('SIGHUP');
  }

  private live(): ChildProcess[] {
    return this.slots.flatMap((s) => (s.child !== null && s.child.exitCode === null && s.child.signalCode === null ? [s.child] : []));
  }

  private spawn(slot: Slot): void {
    slot.restartTimer = null;
    const child = fork(MAIN, [...this.opts.workerArgs, '--port', String(this.port)], {
      env: { ...this.opts.env, [WORKER_ENV]: String(slot.index + 1) },
      serialization: 'advanced',
      stdio: 'inherit',
    });
    slot.child = child;
    slot.startedAt = Date.now();
    this.opts.log.info('worker started', { worker: slot.index + 1, pid: child.pid });
    child.on('message', (message: unknown) => this.onMessage(child, message));
    child.once('exit', (code, signal) => this.onExit(slot, child, code, signal));
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child === child) slot.child = null;
    if (this.status !== 'running') {
      if (code !== 0) this.exitCode = 2;
      this.opts.log.info('worker exited', { worker: slot.index + 1, pid: child.pid, code, signal });
      this.finishIfIdle();
      return;
    }
    if (Date.now() - slot.startedAt >= STABLE_AFTER_MS) slot.crashes = 0;
    const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** slot.crashes);
    slot.crashes++;
    this.opts.log.error('worker died; restarting', { worker: slot.index + 1, pid: child.pid, code, signal, restartInMs: delayMs, crashes: slot.crashes });
    slot.restartTimer = setTimeout(() => this.spawn(slot), delayMs);
  }

  private finishIfIdle(): void {
    if (this.status === 'draining' && this.live().length === 0) {
      this.status = 'stopped';
      this.opts.log.notice('supervisor stopped', { code: this.exitCode });
      this.finished(this.exitCode);
    }
  }

  private onMessage(from: ChildProcess, message: unknown): void {
    if (!isWorkerMessage(message) || message.herald !== 'metrics-request') return;
    const id = message.id;
    this.collect().then(
      ({ text, workers }) => send(from, { herald: 'metrics-text', id, text, workers }),
      (err: unknown) => this.opts.log.error('metrics merge failed', { err: err instanceof Error ? err : new Error(String(err)) }),
    );
  }

  /** Asks every live worker for its registry snapshot and merges whatever arrives in time. */
  private async collect(): Promise<{ text: string; workers: number }> {
    const id = this.nextCollect++;
    const asks = this.live().map(
      (child) =>
        new Promise<unknown>((resolve) => {
          const timer = setTimeout(() => done(null), SNAPSHOT_TIMEOUT_MS);
          const onMessage = (message: unknown): void => {
            if (isWorkerMessage(message) && message.herald === 'snapshot' && message.id === id) done(message.snapshot);
          };
          const done = (snapshot: unknown): void => {
            clearTimeout(timer);
            child.off('message', onMessage);
            child.off('exit', onExit);
            resolve(snapshot);
          };
          const onExit = (): void => done(null);
          child.on('message', onMessage);
          child.once('exit', onExit);
          if (!send(child, { herald: 'snapshot-request', id })) done(null);
        }),
    );
    const snapshots = (await Promise.all(asks)).filter((s) => s !== null);
    return { text: await mergeSnapshots(snapshots), workers: snapshots.length };
  }
}

function send(child: ChildProcess, message: PrimaryToWorker): boolean {
  if (!child.connected) return false;
  return child.send(message);
}

/** A port free on `host` right now. Racy by nature; a worker that loses the race is restarted on the same port. */
function pickFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no free port on ${host}`))));
    });
  });
}
