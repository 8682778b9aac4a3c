import { spawn } from 'node:child_process';

export interface PromtoolResult {
  readonly code: number | null;
  readonly output: string;
}

/** `promtool check metrics` on an exposition text; null when promtool is not installed. */
export function promtoolCheck(exposition: string, timeoutMs = 10_000): Promise<PromtoolResult | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`promtool did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') resolve(null);
      else reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    // EPIPE if promtool exits early: its exit code and output tell the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(exposition);
  });
}
