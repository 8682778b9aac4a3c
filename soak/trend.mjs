/**
 * Memory trend of a soak after its warm-up: the mean of the last third of the remaining samples
 * minus the mean of the first third (robust to GC saw-teeth and a single spike), and the
 * least-squares slope for the report. `points` are [seconds, MB].
 */
export function memoryTrend(points, warmupShare) {
  const rest = points.slice(Math.floor(points.length * warmupShare));
  if (rest.length < 3) return { samples: rest.length, firstMeanMb: NaN, lastMeanMb: NaN, growthMb: 0, slopeMbPerMin: 0 };
  const third = Math.max(1, Math.floor(rest.length / 3));
  const mean = (xs) => xs.reduce((a, [, y]) => a + y, 0) / xs.length;
  const firstMeanMb = mean(rest.slice(0, third));
  const lastMeanMb = mean(rest.slice(-third));
  const mx = rest.reduce((a, [x]) => a + x, 0) / rest.length;
  const my = mean(rest);
  const num = rest.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = rest.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const round = (v) => Math.round(v * 100) / 100;
  return { samples: rest.length, firstMeanMb: round(firstMeanMb), lastMeanMb: round(lastMeanMb), growthMb: round(lastMeanMb - firstMeanMb), slopeMbPerMin: round(den === 0 ? 0 : (num / den) * 60) };
}
