import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { Redis } from 'ioredis';
import { waitFor } from './wait.js';

/** A redis-server child process on a free loopback port, owned by one test file. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGTERM and wait for exit (resumes first if paused). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Start again on the same port (stopping first if still running). */
  restart(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a silently dead link). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments, e.g. ['--enable-debug-command', 'local']. */
  readonly args?: readonly string[];
}

/** A port the OS considers free right now (bind 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from listen(0)'))));
    });
  });
}

/** One raw PING over a fresh socket; true on +PONG. Avoids a client library's retry noise. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function spawnServer(port: number, args: readonly string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(
    'redis-server',
    ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Kept for the failure message; bounded so a chatty server cannot grow memory.
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => output };
}

async function launch(port: number, args: readonly string[]): Promise<ChildProcess> {
  const { child, output } = spawnServer(port, args);
  let failed = false;
  child.once('exit', () => (failed = true));
  await waitFor(
    async () => {
      if (failed) throw new Error(`redis-server exited: ${output()}`);
      return ping(port);
    },
    { timeoutMs: 10_000, intervalMs: 20, what: `redis-server on port ${port} to answer PING` },
  );
  return child;
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const args = opts.args ?? [];
  let port = 0;
  let child: ChildProcess | undefined;
  // The free port can be taken between freePort() and redis' bind: retry on a new one.
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, args);
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
  let current: ChildProcess = child;
  let paused = false;
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    if (current.exitCode !== null || current.signalCode !== null) return;
    if (paused) current.kill('SIGCONT');
    paused = false;
    current.kill(sig);
    await exited(current);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async restart() {
      await signal('SIGTERM');
      current = await launch(port, args);
    },
    pause() {
      paused = true;
      current.kill('SIGSTOP');
    },
    resume() {
      paused = false;
      current.kill('SIGCONT');
    },
  };
}

/** Anything with tap's teardown (keeps this helper free of tap's types). */
export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

/** REDIS_URL when set (a shared server); else a private server stopped at teardown. */
export async function sharedRedisUrl(t: HasTeardown): Promise<string> {
  const fromEnv = process.env['REDIS_URL'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const server = await startRedis();
  t.teardown(() => server.stop());
  return server.url;
}

/**
 * The usual fixture of an integration test file: a Redis URL (REDIS_URL or a server of its
 * own) and a plain publisher connection, both torn down with the file.
 */
export async function redisWithPublisher(t: HasTeardown): Promise<{ redisUrl: string; pub: Redis }> {
  const redisUrl = await sharedRedisUrl(t);
  const pub = new Redis(redisUrl);
  t.teardown(() => pub.quit());
  return { redisUrl, pub };
}
