/**
 * Herald's own view of a measured window: its garbage collections and its event-loop delay,
 * read from its /metrics (prom-client's default `nodejs_gc_duration_seconds` histogram and
 * `nodejs_eventloop_lag_*` gauges) at the window's start and end. This is the issue-15 lead
 * "measure GC pauses and event-loop delay during each row", for the p99 rows: a tail that GC
 * or a long turn explains shows here, one that does not is elsewhere (the kernel, the client).
 *
 * Both scrapes fall outside the CPU samples of the window (taken before s0 and after s1), so
 * the row's CPU figures do not pay for them. A scrape resets prom-client's event-loop
 * histogram, so the second one covers exactly the window and the drain after it.
 *
 * The event-loop figures are intervals of a 10 ms timer (prom-client's precision), reported
 * as the delay beyond those 10 ms: a turn shorter than ~1 ms does not show. With `--workers`
 * the supervisor merges the workers' metrics: GC counts and times are summed, the delay's max is
 * the largest worker's and its p99 the workers' average (prom-client's aggregators).
 */
import http from 'node:http';

const TIMER_MS = 10;

function scrape(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(res.statusCode === 200 ? text : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** The GC histogram (count, seconds, and pauses over 10 ms, per kind) and the loop-delay gauges. */
export function parseRuntime(text) {
  const gc = {};
  const lag = {};
  for (const line of text.split('\n')) {
    let m = /^nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/.exec(line);
    if (m) {
      (gc[m[2]] ??= { count: 0, s: 0, over10ms: 0, le10ms: 0 })[m[1] === 'sum' ? 's' : 'count'] = Number(m[3]);
      continue;
    }
    m = /^nodejs_gc_duration_seconds_bucket\{le="0\.01",kind="(\w+)"\} (\S+)$/.exec(line);
    if (m) {
      (gc[m[1]] ??= { count: 0, s: 0, over10ms: 0, le10ms: 0 }).le10ms = Number(m[2]);
      continue;
    }
    m = /^nodejs_eventloop_lag_(p99|max)_seconds (\S+)$/.exec(line);
    if (m) lag[m[1]] = Number(m[2]);
  }
  for (const g of Object.values(gc)) g.over10ms = g.count - g.le10ms;
  return { gc, lag };
}

/**
 * Enough for V8 to have given the request path's functions their feedback vectors (allocated
 * only after a function's first few calls) while the scrape was among what they saw.
 */
const PRIME_SCRAPES = 20;

/**
 * Scrapes before the warm-up, unused. A long-running Herald has been scraped many times;
 * its first /metrics request changes the shapes the request path has seen (a query-less
 * request, the metrics handler's writes), and V8 deoptimizes and recompiles the poll path
 * after it. Without this, that first scrape was the window's own (bench/issue-15.md,
 * eleventh pass), and the window paid for the recompilation.
 */
export async function primeRuntimeProbe(port, times = PRIME_SCRAPES) {
  for (let i = 0; i < times; i++) if ((await scrape(port)) === null) return;
}

/** Starts the window's probe; `end()` returns the window's figures, or null when /metrics did not answer. */
export async function runtimeProbe(port) {
  const start = await scrape(port);
  const before = start === null ? null : parseRuntime(start);
  return {
    async end() {
      const text = await scrape(port);
      if (before === null || text === null) return null;
      const after = parseRuntime(text);
      const gc = {};
      let pauseMs = 0;
      let over10ms = 0;
      for (const [kind, a] of Object.entries(after.gc)) {
        const b = before.gc[kind] ?? { count: 0, s: 0, over10ms: 0 };
        const ms = (a.s - b.s) * 1000;
        gc[kind] = { count: a.count - b.count, ms: round(ms) };
        pauseMs += ms;
        over10ms += a.over10ms - b.over10ms;
      }
      const beyond = (s) => (s === undefined ? null : round(Math.max(0, s * 1000 - TIMER_MS)));
      return { gc, gcPauseMs: round(pauseMs), gcPausesOver10ms: over10ms, loopDelayP99Ms: beyond(after.lag.p99), loopDelayMaxMs: beyond(after.lag.max) };
    },
  };
}

function round(x) {
  return Math.round(x * 100) / 100;
}
