/**
 * Messages between the supervisor (primary) and its workers over the fork() IPC channel.
 * Only metrics travel here; signals are plain POSIX signals.
 *
 *   worker W (got GET /metrics)      primary                    every worker
 *   ── metrics-request {id} ──────▶
 *                                    ── snapshot-request {id} ─▶
 *                                    ◀─ snapshot {id, snapshot} ─
 *   ◀─ metrics-text {id, text} ───   (merged by metrics/merge.ts)
 */

/** Set by the supervisor in each worker's environment; a worker never supervises. */
export const WORKER_ENV = 'HERALD_WORKER';

export type WorkerToPrimary =
  | { readonly herald: 'metrics-request'; readonly id: number }
  /** `snapshot` is null while the worker's daemon is not started yet. */
  | { readonly herald: 'snapshot'; readonly id: number; readonly snapshot: unknown };

export type PrimaryToWorker =
  | { readonly herald: 'snapshot-request'; readonly id: number }
  | { readonly herald: 'metrics-text'; readonly id: number; readonly text: string; readonly workers: number };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isWorkerMessage(value: unknown): value is WorkerToPrimary {
  return isObject(value) && (value['herald'] === 'metrics-request' || value['herald'] === 'snapshot') && typeof value['id'] === 'number';
}

export function isPrimaryMessage(value: unknown): value is PrimaryToWorker {
  return (
    isObject(value) &&
    typeof value['id'] === 'number' &&
    (value['herald'] === 'snapshot-request' || (value['herald'] === 'metrics-text' && typeof value['text'] === 'string'))
  );
}
