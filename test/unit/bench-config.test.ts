// The config the bench runs Herald with (bench/lib/targets.mjs heraldConfig): it must load
// without issues in every form a preset asks for, and HERALD_BENCH_BATCH_DELAY must reach
// the rule, or an "against none" measurement of the batch delay measures the default twice.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { formatIssue, loadConfig } from '../../src/config/load.js';
import { heraldConfig } from '../../bench/lib/targets.mjs';

const dir = mkdtempSync(join(tmpdir(), 'herald-bench-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string): ReturnType<typeof loadConfig> {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return loadConfig({ file, env: {}, overrides: {} });
}

const redis = { url: 'redis://127.0.0.1:6379' };
// A developer's own setting must not decide the default case below.
delete process.env.HERALD_BENCH_BATCH_DELAY;

t.test('the default, durable and batch-delay forms load with no issues', async (t) => {
  const cases: [string, Record<string, unknown>, number, string][] = [
    ['default', {}, 10, 'memory'],
    ['durable', { durable: true }, 10, 'redis'],
    ['batchDelay 0', { batchDelay: '0' }, 0, 'memory'],
    ['batchDelay 25ms', { batchDelay: '25ms' }, 25, 'memory'],
  ];
  for (const [name, opts, delayMs, store] of cases) {
    const { config, issues } = load(heraldConfig(redis, opts));
    t.same(issues.map(formatIssue), [], `${name}: no issues`);
    const rule = config!.channels[0]!;
    t.equal(rule.batchDelayMs, delayMs, `${name}: batchDelay ${delayMs} ms`);
    t.equal(rule.history.store, store, `${name}: history in ${store}`);
  }
});

t.test('HERALD_BENCH_BATCH_DELAY is the default for batchDelay', async (t) => {
  t.teardown(() => delete process.env.HERALD_BENCH_BATCH_DELAY);
  process.env.HERALD_BENCH_BATCH_DELAY = '0';
  t.equal(load(heraldConfig(redis)).config!.channels[0]!.batchDelayMs, 0);
  delete process.env.HERALD_BENCH_BATCH_DELAY;
  t.equal(load(heraldConfig(redis)).config!.channels[0]!.batchDelayMs, 10);
});
