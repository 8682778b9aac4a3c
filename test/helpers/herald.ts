import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Spawns the built daemon (dist/main.js) as a real child process, as an operator would. */

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface HeraldProcess {
  readonly port: number;
  readonly url: string;
  readonly wsUrl: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly configFile: string;
  logs(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Rewrites the config file (for SIGHUP reload tests). */
  writeConfig(yaml: string): void;
}

export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

export interface StartHeraldOptions {
  /** YAML text of the config file. */
  readonly config?: string;
  readonly redisUrl?: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Wait for /readyz 200 before resolving (default true). */
  readonly waitReady?: boolean;
  readonly port?: number;
  /** How long the first `listening` line may take (default 10 s; several workers on a busy machine take longer). */
  readonly listenTimeoutMs?: number;
}

let seq = 0;
/** A channel-name prefix unique to this test process and call, so tests can share a Redis. */
export function uniquePrefix(): string {
  return `t${process.pid}x${++seq}`;
}

export async function startHerald(t: HasTeardown, opts: StartHeraldOptions = {}): Promise<HeraldProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-test-'));
  const configFile = join(dir, 'herald.yaml');
  writeFileSync(configFile, opts.config ?? 'channels:\n  - { pattern: "public:{name}", access: public }\n');
  const args = [MAIN, 'start', '--config', configFile, '--host', '127.0.0.1', '--port', String(opts.port ?? 0)];
  if (opts.redisUrl !== undefined) args.push('--redis', opts.redisUrl);
  args.push(...(opts.args ?? []));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLog = (re: RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = re.exec(output);
        if (m === null) return false;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(m[0]);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} in herald output:\n${output}`));
      }, timeoutMs);
      listeners.add(check);
      if (!check()) void exited.then(() => {
        if (listeners.has(check)) {
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`herald exited while waiting for ${re}:\n${output}`));
        }
      });
    });

  let stopped: Promise<number | null> | null = null;
  const stop = (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> => {
    if (stopped !== null) return stopped;
    if (child.exitCode !== null || child.signalCode !== null) return (stopped = exited);
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    stopped = exited.finally(() => clearTimeout(timer));
    return stopped;
  };
  t.teardown(async () => {
    await stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const line = await waitForLog(/^\{.*"msg":"listening".*$/m, opts.listenTimeoutMs);
  const port = (JSON.parse(line) as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  if (opts.waitReady ?? true) await waitReady(url, 15_000, () => output);
  return {
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    pid: child.pid!,
    child,
    configFile,
    logs: () => output,
    stop,
    waitForLog,
    writeConfig: (yaml) => writeFileSync(configFile, yaml),
  };
}

export async function waitReady(url: string, timeoutMs: number, logs: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`herald at ${url} not ready after ${timeoutMs} ms:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Prometheus text → value of the first sample matching name and (optional) label fragment. */
export function metricValue(text: string, name: string, labels = ''): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labels !== '' && !rest.includes(labels)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  return res.text();
}
