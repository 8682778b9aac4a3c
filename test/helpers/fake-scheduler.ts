import type { Scheduler } from '../../src/hub/interest.js';

/** Manual clock: timers fire on advance(); deferred work runs on endTurn(). */
export class FakeScheduler implements Scheduler {
  now = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;
  #deferred: Array<() => void> = [];

  clock(): number {
    return this.now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  defer(fn: () => void): void {
    this.#deferred.push(fn);
  }
  get pendingTimers(): number {
    return this.#timers.size;
  }
  get pendingDefers(): number {
    return this.#deferred.length;
  }
  endTurn(): void {
    const run = this.#deferred;
    this.#deferred = [];
    for (const fn of run) fn();
  }
  /** Moves time forward, firing due timers (each in its own turn, like real timers). */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let dueId = -1;
      let due: { at: number; fn: () => void } | undefined;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && (due === undefined || timer.at < due.at)) {
          dueId = id;
          due = timer;
        }
      }
      if (due === undefined) break;
      this.#timers.delete(dueId);
      this.now = due.at;
      due.fn();
    }
    this.now = target;
  }
}
