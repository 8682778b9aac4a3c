import type { Logger } from '../../log.js';

/** setTimeout's range: Node fires a longer delay at once (with a warning) instead of late. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A timer or immediate callback made a boundary (STYLE C): a throw is logged once with
 * `what`, and the process keeps serving. Every transport timer goes through this.
 */
export function guarded(log: Logger, what: string, fn: () => void): () => void {
  return () => {
    try {
      fn();
    } catch (err) {
      log.error(what + ' failed', { err: err instanceof Error ? err : new Error(String(err)) });
    }
  };
}

/**
 * A guarded, unref'd one-shot timer, or null when `delayMs` is past setTimeout's range:
 * the caller's periodic tick covers such far deadlines. A negative delay fires next turn.
 */
export function timerWithinRange(log: Logger, what: string, delayMs: number, fn: () => void): NodeJS.Timeout | null {
  if (delayMs > MAX_TIMER_MS) return null;
  const timer = setTimeout(guarded(log, what, fn), Math.max(0, delayMs));
  timer.unref();
  return timer;
}

/**
 * Ends `items` one by one, spread evenly over `windowMs`, so the clients they send
 * elsewhere do not all arrive at once at the remaining processes. Resolves when each has
 * been ended (immediately for none).
 */
export function staggered<T>(log: Logger, items: readonly T[], windowMs: number, end: (item: T) => void): Promise<void> {
  if (items.length === 0) return Promise.resolve();
  const step = items.length > 1 ? windowMs / items.length : 0;
  return new Promise((resolve) => {
    let done = 0;
    items.forEach((item, i) => {
      const endOne = guarded(log, 'drain', () => end(item));
      const t = setTimeout(() => {
        endOne();
        if (++done === items.length) resolve();
      }, i * step);
      t.unref();
    });
  });
}
