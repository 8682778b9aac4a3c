import type { Logger } from '../log.js';
import { isPrimaryMessage, type WorkerToPrimary } from './ipc.js';

/** How long a worker waits for the primary's merged metrics before failing the scrape. */
const METRICS_TIMEOUT_MS = 5000;

/** The slice of `process` a worker needs (injected so the link is testable without fork()). */
export interface IpcChannel {
  send?: ((message: WorkerToPrimary) => boolean) | undefined;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * A worker's side of the supervisor link: answers the primary's snapshot requests with this
 * worker's registry, and turns a local GET /metrics into the primary's merged text.
 */
export class WorkerLink {
  private snapshot: (() => Promise<unknown>) | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(text: string): void; timer: NodeJS.Timeout }>();

  constructor(
    private readonly channel: IpcChannel,
    private readonly log: Logger,
  ) {
    channel.on('message', this.onMessage);
  }

  /** Called once the daemon exists; until then snapshot requests are answered with null. */
  attach(snapshot: () => Promise<unknown>): void {
    this.snapshot = snapshot;
  }

  /** The merged exposition text of every worker; rejects when the primary does not answer in time. */
  readonly metricsText = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the supervisor did not answer the metrics request within ${METRICS_TIMEOUT_MS} ms`));
      }, METRICS_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer });
      if (!this.post({ herald: 'metrics-request', id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error('the supervisor IPC channel is closed'));
      }
    });

  close(): void {
    this.channel.off('message', this.onMessage);
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  private post(message: WorkerToPrimary): boolean {
    return this.channel.send?.(message) ?? false;
  }

  private readonly onMessage = (message: unknown): void => {
    if (!isPrimaryMessage(message)) return;
    if (message.herald === 'metrics-text') {
      const waiter = this.pending.get(message.id);
      if (waiter === undefined) return;
      this.pending.delete(message.id);
      clearTimeout(waiter.timer);
      waiter.resolve(message.text);
      return;
    }
    const id = message.id;
    const take = this.snapshot;
    if (take === null) {
      this.post({ herald: 'snapshot', id, snapshot: null });
      return;
    }
    take().then(
      (snapshot) => this.post({ herald: 'snapshot', id, snapshot }),
      (err: unknown) => {
        this.log.error('metrics snapshot failed', { err: err instanceof Error ? err : new Error(String(err)) });
        this.post({ herald: 'snapshot', id, snapshot: null });
      },
    );
  };
}
