import type { EventEmitter } from 'node:events';

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Poll period; polling is for state with no event to await. @default 10 */
  readonly intervalMs?: number;
  /** Named in the timeout message, e.g. "broker status ready". */
  readonly what: string;
}

/** Resolves once cond() is true; rejects naming `what` (and the last error cond threw) at the timeout. */
export async function waitFor(cond: () => boolean | Promise<boolean>, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const intervalMs = opts.intervalMs ?? 10;
  let lastError: unknown = null;
  for (;;) {
    try {
      if (await cond()) return;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${opts.timeoutMs}ms waiting for ${opts.what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The arguments of the next `event` on emitter; rejects after timeoutMs. */
export function once(emitter: EventEmitter, event: string, timeoutMs: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`timed out after ${timeoutMs}ms waiting for event "${event}"`));
    }, timeoutMs);
    emitter.once(event, onEvent);
  });
}

/**
 * Conditions re-checked whenever the owner says something changed (a frame, an event, a
 * close): for clients that wait on their own state instead of polling it.
 */
export class Conditions {
  private readonly waiters = new Set<() => void>();

  /** Resolves once cond() holds; `describe` adds the owner's state to the timeout message. */
  until(cond: () => boolean, timeoutMs: number, what: string, describe: () => string = () => ''): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe()}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
