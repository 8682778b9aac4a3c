import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MAIN } from '../helpers/herald.js';

// Found in issue 15's fifth pass: a Herald whose parent had died kept one core at 100% for
// 40 minutes. Its log pipe had no reader, each write failed with EPIPE as an 'error' event,
// unhandled it was an uncaught exception, and the handler's report was one more write to the
// same pipe. A broken log pipe must cost the logs, not the CPU or the service.

/** User + system CPU of a process, in clock ticks (100 per second here). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

t.test('a daemon whose log pipe lost its reader keeps serving, idle, and still stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-pipe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'herald.yaml');
  writeFileSync(config, 'broker: { type: memory }\nchannels:\n  - { pattern: "pipe:{name}", access: public }\nlog: { level: info }\n');
  const child = spawn(process.execPath, [MAIN, 'start', '--config', config, '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(output);
      if (m !== null) resolve(Number(m[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  // The reader goes away; every later log line meets a pipe nobody reads (EPIPE).
  child.stdout.destroy();
  child.stderr.destroy();
  await new Promise((r) => setTimeout(r, 100));
  // Each reload logs at info.
  for (let i = 0; i < 3; i++) {
    child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 100));
  }
  const before = cpuTicks(child.pid!);
  await new Promise((r) => setTimeout(r, 2000));
  const used = cpuTicks(child.pid!) - before;
  t.ok(used < 40, `idle after the pipe broke: ${used} ticks of CPU in 2 s (a spinning loop is ~200)`);
  t.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, 'still serving');
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    setTimeout(() => resolve('still running 10 s after SIGTERM'), 10_000).unref();
  });
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'and stops cleanly on SIGTERM');
});
