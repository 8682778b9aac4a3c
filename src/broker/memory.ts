import { HeraldError } from '../errors.js';
import type { Broker, BrokerHandler, BrokerStatus } from '../hub/ports.js';
import { createLogger, type Logger } from '../log.js';

type Event =
  | { readonly kind: 'message'; readonly redisChannel: string; readonly payload: Buffer }
  | { readonly kind: 'live'; readonly redisChannels: readonly string[] };

/**
 * In-process Broker: the embedded default, so `herald start` works with no Redis at all.
 * It mimics Redis pub/sub where the hub can tell: delivery is asynchronous, in publish order,
 * to channels subscribed at publish time; onLive comes on a later turn through the same FIFO,
 * so every message published after subscribe() arrives after its onLive. One process only:
 * publish returns 1 when the channel is subscribed here, else 0.
 */
export class MemoryBroker implements Broker {
  #status: BrokerStatus = 'connecting';
  #handler: BrokerHandler | null = null;
  readonly #subscribed = new Set<string>();
  #queue: Event[] = [];
  #drainQueued = false;
  readonly #log: Logger;

  constructor(log: Logger = createLogger('error')) {
    this.#log = log.child({ component: 'broker', kind: 'memory' });
  }

  get status(): BrokerStatus {
    return this.#status;
  }

  async start(handler: BrokerHandler): Promise<void> {
    this.#handler = handler;
    for (const channel of handler.desiredChannels()) this.#subscribed.add(channel);
    if (this.#subscribed.size > 0) this.#enqueue({ kind: 'live', redisChannels: [...this.#subscribed] });
    this.#setStatus('ready');
  }

  subscribe(redisChannels: readonly string[]): void {
    if (this.#status !== 'ready' || redisChannels.length === 0) return;
    for (const channel of redisChannels) this.#subscribed.add(channel);
    this.#enqueue({ kind: 'live', redisChannels: [...redisChannels] });
  }

  unsubscribe(redisChannels: readonly string[]): void {
    for (const channel of redisChannels) this.#subscribed.delete(channel);
  }

  async publish(redisChannel: string, payload: string | Buffer): Promise<number> {
    if (this.#status !== 'ready') throw new HeraldError('broker_unavailable');
    if (!this.#subscribed.has(redisChannel)) return 0;
    // Copied: the caller may reuse its buffer, and Redis would have copied it too.
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
    this.#enqueue({ kind: 'message', redisChannel, payload: bytes });
    return 1;
  }

  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#queue = [];
    this.#subscribed.clear();
    this.#setStatus('closed');
    this.#handler = null;
  }

  #setStatus(next: BrokerStatus): void {
    if (next === this.#status) return;
    this.#log.info('broker status', { from: this.#status, to: next });
    this.#status = next;
    const handler = this.#handler;
    if (handler === null) return;
    try {
      handler.onStatus(next);
    } catch (err) {
      this.#log.error('broker handler onStatus threw', { err });
    }
  }

  #enqueue(event: Event): void {
    this.#queue.push(event);
    if (this.#drainQueued) return;
    this.#drainQueued = true;
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#drainQueued = false;
    const events = this.#queue;
    this.#queue = [];
    for (const event of events) {
      const handler = this.#handler;
      if (handler === null) return;
      try {
        if (event.kind === 'message') handler.onMessage(event.redisChannel, event.payload);
        else handler.onLive(event.redisChannels);
      } catch (err) {
        this.#log.error('broker handler threw', { err, event: event.kind });
      }
    }
  }
}
