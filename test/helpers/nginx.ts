import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';
import { waitFor } from './wait.js';

/**
 * A real nginx as a child process of the test: its own prefix, pid, log and temp dirs, a free
 * port, no daemon and no master/worker split (so it needs no user switch and dies with its
 * pid). Its http block includes config/nginx-herald.conf with only the ports replaced.
 */

export const NGINX_CONF = fileURLToPath(new URL('../../config/nginx-herald.conf', import.meta.url));
const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'];

export function nginxBinary(): string {
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found === undefined) throw new Error('nginx not found: apt-get install nginx (.ci/run installs it)');
  return found;
}

export interface NginxProcess {
  readonly port: number;
  readonly url: string;
  readonly wsUrl: string;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

/**
 * The documented file with its ports replaced (each exactly once, so the test notices when
 * the file changes shape). `edit` may change the text further (a variant the test contrasts).
 */
export function heraldConfFor(upstreams: readonly [number, number], listen: number, edit: (text: string) => string = (x) => x): string {
  let text = readFileSync(NGINX_CONF, 'utf8');
  const replacements: [string, string][] = [
    ['server 127.0.0.1:8080;', `server 127.0.0.1:${upstreams[0]};`],
    ['server 127.0.0.1:8081;', `server 127.0.0.1:${upstreams[1]};`],
    ['listen 8000;', `listen 127.0.0.1:${listen};`],
  ];
  for (const [from, to] of replacements) {
    if (text.split(from).length !== 2) throw new Error(`${NGINX_CONF} must contain \`${from}\` exactly once`);
    text = text.replace(from, to);
  }
  return edit(text);
}

export async function startNginx(
  t: HasTeardown,
  upstreams: readonly [number, number],
  edit?: (text: string) => string,
): Promise<NginxProcess> {
  const binary = nginxBinary();
  const prefix = mkdtempSync(join(tmpdir(), 'herald-nginx-'));
  for (const dir of ['logs', 'temp/body', 'temp/proxy', 'temp/fastcgi', 'temp/uwsgi', 'temp/scgi']) mkdirSync(join(prefix, dir), { recursive: true });
  const port = await freePort();
  writeFileSync(join(prefix, 'herald.conf'), heraldConfFor(upstreams, port, edit));
  const main = `
daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/temp/body;
  proxy_temp_path ${prefix}/temp/proxy;
  fastcgi_temp_path ${prefix}/temp/fastcgi;
  uwsgi_temp_path ${prefix}/temp/uwsgi;
  scgi_temp_path ${prefix}/temp/scgi;
  include ${prefix}/herald.conf;
}
`;
  writeFileSync(join(prefix, 'nginx.conf'), main);
  const child: ChildProcess = spawn(binary, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = (): string => {
    const file = join(prefix, 'logs/error.log');
    return output + (existsSync(file) ? readFileSync(file, 'utf8') : '');
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  t.teardown(async () => {
    await stop();
    rmSync(prefix, { recursive: true, force: true });
  });
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${errorLog()}`);
      // A TCP connect, not an HTTP request: a variant config may leave requests hanging.
      return new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
    },
    { timeoutMs: 10_000, what: 'nginx listening' },
  );
  return { port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}`, errorLog, stop };
}
