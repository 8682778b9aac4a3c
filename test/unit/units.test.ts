import t from 'tap';
import { formatDuration, formatSize, MAX_DURATION_MS, parseDuration, parseSize } from '../../src/config/units.js';

t.test('durations', async (t) => {
  const good: [string | number, number][] = [
    ['250ms', 250], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000],
    ['1.5s', 1_500], ['0', 0], [0, 0], ['0s', 0], [' 5s ', 5_000],
  ];
  for (const [text, ms] of good) t.equal(parseDuration(text), ms, String(text));
  for (const bad of ['', '5', 30, '5 s', '5S', '5sec', '-1s', 's', '1.5ms', '0.0001s', 'ms5', '5m30s', '1e3ms', 'Infinityms']) {
    t.equal(parseDuration(bad), null, JSON.stringify(bad));
  }
  t.equal(MAX_DURATION_MS, 2 ** 31 - 1, 'setTimeout limit');
});

t.test('sizes', async (t) => {
  const good: [string | number, number][] = [
    [512, 512], ['512', 512], ['64kb', 65_536], ['1mb', 1_048_576], ['1gb', 1_073_741_824],
    ['1MB', 1_048_576], ['16KB', 16_384], ['1.5mb', 1_572_864], ['10b', 10], [0, 0],
  ];
  for (const [text, bytes] of good) t.equal(parseSize(text), bytes, String(text));
  for (const bad of ['', 'kb', '64k', '64 kib', '-1', -1, 1.5, '1.5', '0.1kb', 'lots', '1tb']) {
    t.equal(parseSize(bad), null, JSON.stringify(bad));
  }
});

t.test('formatting picks the largest exact unit', async (t) => {
  t.equal(formatDuration(300_000), '5m');
  t.equal(formatDuration(1_500), '1500ms');
  t.equal(formatDuration(0), '0');
  t.equal(formatDuration(7_200_000), '2h');
  t.equal(formatSize(65_536), '64kb');
  t.equal(formatSize(1_048_576), '1mb');
  t.equal(formatSize(1_000), '1000');
  t.equal(formatSize(0), '0');
  for (const ms of [1, 999, 1_000, 61_000, 3_600_000]) t.equal(parseDuration(formatDuration(ms)), ms, `round trip ${ms}`);
});
