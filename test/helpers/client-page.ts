import type { Browser, Page } from 'playwright-core';
import { startPageServer, type HasTeardown } from './browser.js';

/**
 * A Chromium page (its own origin, so every request is a real CORS request) that loads the
 * built browser client from Herald's GET /client.js and runs named clients of it. Each client
 * records its state changes, messages (with the transport in use), resets and errors; the test
 * reads and waits on those records.
 */

export interface ClientRecord {
  states: string[];
  msgs: { c: string; id: string; d: unknown; t: string }[];
  resets: { c: string; r: string; at: number }[];
  errors: string[];
  tokenCalls: number;
}

export interface ClientStart {
  readonly url: string;
  readonly channels: readonly string[];
  readonly options?: Record<string, unknown>;
  /** Give the client a getToken() that calls the page's exposed `mintToken()`. */
  readonly getToken?: boolean;
}

const HARNESS = String.raw`
window.clients = new Map();
window.startClient = (key, spec) => {
  const log = { states: [], msgs: [], resets: [], errors: [], tokenCalls: 0 };
  const opts = { ...(spec.options || {}) };
  if (spec.getToken) opts.getToken = () => { log.tokenCalls++; return window.mintToken(); };
  const h = window.herald(spec.url, opts);
  h.on('state', (e) => log.states.push(e.state + ':' + e.transport));
  const subs = new Map();
  const sub = (c) => subs.set(c, h.subscribe(c, {
    onMessage: (m) => log.msgs.push({ c: m.channel, id: m.id, d: m.data, t: h.transport }),
    onReset: (c, r) => log.resets.push({ c, r, at: log.msgs.length }),
    onError: (code) => log.errors.push(code),
  }));
  spec.channels.forEach(sub);
  window.clients.set(key, { h, log, sub, subs });
};
window.addChannel = (key, c) => window.clients.get(key).sub(c);
window.dropChannel = (key, c) => window.clients.get(key).subs.get(c).unsubscribe();
`;

export class ClientPage {
  private constructor(readonly page: Page) {}

  /** A fresh browser context (own sessionStorage) on a page server, with herald() imported from `heraldUrl`. */
  static async open(t: HasTeardown, browser: Browser, heraldUrl: string, mintToken?: () => Promise<string>): Promise<ClientPage> {
    const server = await startPageServer(t);
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    if (mintToken !== undefined) await page.exposeFunction('mintToken', mintToken);
    await page.goto(`${server.origin}/`);
    await page.addScriptTag({ content: HARNESS });
    await page.addScriptTag({ type: 'module', content: `import { herald } from '${heraldUrl}/client.js'; window.herald = herald;` });
    await page.waitForFunction(() => typeof (globalThis as unknown as { herald?: unknown }).herald === 'function');
    return new ClientPage(page);
  }

  async start(key: string, spec: ClientStart): Promise<void> {
    await this.page.evaluate(({ key, spec }) => (globalThis as unknown as { startClient: (k: string, s: ClientStart) => void }).startClient(key, spec), { key, spec });
  }

  record(key: string): Promise<ClientRecord> {
    return this.page.evaluate((key) => (globalThis as unknown as { clients: Map<string, { log: ClientRecord }> }).clients.get(key)!.log, key);
  }

  /** Resolves once `check(record)` holds, evaluated in the page on every animation frame. */
  async until(key: string, check: string, timeoutMs = 10_000): Promise<ClientRecord> {
    try {
      await this.page.waitForFunction(
        ({ key, check }) => {
          const log = (globalThis as unknown as { clients: Map<string, { log: ClientRecord }> }).clients.get(key)!.log;
          return (new Function('log', `return (${check});`) as (l: ClientRecord) => boolean)(log);
        },
        { key, check },
        { timeout: timeoutMs, polling: 50 },
      );
    } catch (err) {
      const rec = await this.record(key);
      throw new Error(`${key}: waiting for ${check}: ${(err as Error).message.split('\n')[0]}; states ${rec.states.join(' ')}; ${rec.msgs.length} msgs (last ${JSON.stringify(rec.msgs.at(-1))}); resets ${JSON.stringify(rec.resets)}; errors ${rec.errors.join(',')}`);
    }
    return this.record(key);
  }

  /** Waits for the client to be live (again): `n` live states in all. */
  live(key: string, n = 1, timeoutMs = 10_000): Promise<ClientRecord> {
    return this.until(key, `log.states.filter((s) => s.startsWith('live:')).length >= ${n}`, timeoutMs);
  }

  /** One more subscribe() call on a running client (its messages go to the same record). */
  subscribe(key: string, channel: string): Promise<void> {
    return this.page.evaluate(([key, channel]) => (globalThis as unknown as { addChannel: (k: string, c: string) => void }).addChannel(key!, channel!), [key, channel]);
  }

  unsubscribe(key: string, channel: string): Promise<void> {
    return this.page.evaluate(([key, channel]) => (globalThis as unknown as { dropChannel: (k: string, c: string) => void }).dropChannel(key!, channel!), [key, channel]);
  }

  close(key: string): Promise<void> {
    return this.page.evaluate((key) => (globalThis as unknown as { clients: Map<string, { h: { close(): void } }> }).clients.get(key)!.h.close(), key);
  }
}

/**
 * Publishes "0", "1", "2", … every `everyMs` through `send` (in order: one at a time) until
 * stopped; `stop()` resolves with how many were sent.
 */
export function steadyPublisher(send: (payload: string) => Promise<unknown>, everyMs = 40): { stop(): Promise<number>; readonly sent: number } {
  let n = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await send(String(n));
      n++;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    get sent() {
      return n;
    },
    async stop() {
      running = false;
      await loop;
      return n;
    },
  };
}

/**
 * The received payloads are consecutive integers: nothing lost, nothing twice, in order.
 * Returns a description of the first break, or null.
 */
export function firstBreak(values: readonly unknown[]): string | null {
  for (let i = 1; i < values.length; i++) {
    if (Number(values[i]) !== Number(values[i - 1]) + 1) return `at ${i}: ${String(values[i - 1])} then ${String(values[i])}`;
  }
  return null;
}
