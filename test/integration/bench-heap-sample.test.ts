import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { record, summarize, type Recording } from '../../bench/heap-sample.mjs';
import { freePort } from '../helpers/redis.js';

// The allocation figures of bench/issue-15.md (tenth pass) rest on this tool.

const frame = (functionName: string, lineNumber = 0) => ({ functionName, url: 'file:///x/app.js', lineNumber });

t.test('summarize: bytes by function and by stack, per second or per unit', async (t) => {
  const recording: Recording = {
    seconds: 2,
    profile: {
      head: {
        callFrame: frame('(root)'), selfSize: 0, children: [
          { callFrame: frame('handle', 9), selfSize: 4000, children: [{ callFrame: frame('parse', 19), selfSize: 6000 }] },
          { callFrame: frame('parse', 19), selfSize: 2000 },
        ],
      },
    },
  };
  const perSecond = summarize(recording);
  t.equal(perSecond.total, 6000, '12,000 bytes over 2 s');
  t.same(perSecond.functions, [{ name: 'parse app.js:20', bytes: 4000 }, { name: 'handle app.js:10', bytes: 2000 }]);
  t.same(perSecond.stacks[0], { name: 'parse app.js:20 < handle app.js:10 < (root) app.js:1', bytes: 3000 });
  t.equal(summarize(recording, 100).total, 60, 'per unit at 100 units/s');
});

t.test('record: a live process\'s garbage is counted, by the function that made it', async (t) => {
  const port = await freePort();
  const child = spawn(process.execPath, [`--inspect=127.0.0.1:${port}`, '-e', `
    let keep = 0;
    function makeGarbage() { for (let i = 0; i < 2000; i++) keep += new Array(16).fill(i).length; }
    setInterval(makeGarbage, 5);
  `], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += String(d); if (err.includes('Debugger listening')) resolve(); });
    child.once('exit', () => reject(new Error(err)));
  });
  const out = join(mkdtempSync(join(tmpdir(), 'heap-sample-')), 'heap.json');
  await record({ port, seconds: 1, out });
  const s = summarize(JSON.parse(readFileSync(out, 'utf8')) as Recording);
  const top = s.functions[0]!;
  t.match(top.name, /^makeGarbage /, `the allocating function first (${top.name})`);
  // 200 calls/s × 2,000 arrays of 16 elements (~150 bytes each): tens of MB per second, all of it garbage.
  t.ok(top.bytes > 5_000_000, `${top.bytes} bytes/s, collected objects included`);
});
