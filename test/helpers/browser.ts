import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * A real Chromium (Debian's package, never a downloaded one) driven by playwright-core, and a
 * tiny page server so the page has an origin of its own: cross-origin requests to Herald are
 * then real CORS requests, checked by the browser itself.
 */

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** Anything with tap's teardown (keeps this helper free of tap's types). */
export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

export async function launchBrowser(t: HasTeardown): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    // The machine has no internet: background networking would only produce refused connections.
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}

/**
 * The in-page harness, plain JavaScript using only the platform's EventSource, WebSocket and
 * fetch. Every event is appended to a named log; `until` resolves when a log holds enough
 * entries of a kind (woken by the events themselves, not by polling).
 */
const HARNESS = String.raw`
const logs = new Map();
const handles = new Map();
const waiters = new Set();
function push(key, entry) {
  if (!logs.has(key)) logs.set(key, []);
  logs.get(key).push(entry);
  for (const w of [...waiters]) w();
}
const count = (key, kind) => (logs.get(key) || []).filter((e) => e.kind === kind).length;
window.h = {
  log: (key) => logs.get(key) || [],
  until(key, kind, n, ms) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (count(key, kind) < n) return false;
        waiters.delete(check); clearTimeout(timer); resolve(logs.get(key)); return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const seen = JSON.stringify(logs.get(key) || []);
        reject(new Error('timed out after ' + ms + 'ms waiting for ' + n + ' ' + kind + ' in ' + key + ' (have ' + count(key, kind) + '); log tail: ' + seen.slice(-1500)));
      }, ms);
      waiters.add(check);
      check();
    });
  },
  sse(key, url, names) {
    const es = new EventSource(url);
    handles.set(key, es);
    es.onopen = () => push(key, { kind: 'open', state: es.readyState });
    es.onmessage = (e) => push(key, { kind: 'message', data: e.data, id: e.lastEventId });
    for (const name of names) es.addEventListener(name, (e) => push(key, { kind: name, data: e.data, id: e.lastEventId }));
    es.onerror = () => {
      push(key, { kind: 'error', state: es.readyState });
      if (es.readyState === EventSource.CONNECTING && typeof window.betweenStreams === 'function') window.betweenStreams(key);
    };
  },
  ws(key, url, frames) {
    const ws = new WebSocket(url);
    handles.set(key, ws);
    ws.onopen = () => { push(key, { kind: 'open' }); for (const f of frames) ws.send(JSON.stringify(f)); };
    ws.onmessage = (e) => push(key, { kind: 'frame', frame: JSON.parse(e.data) });
    ws.onerror = () => push(key, { kind: 'error' });
    ws.onclose = (e) => push(key, { kind: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean });
  },
  close(key) { const x = handles.get(key); if (x) x.close(); handles.delete(key); },
  pollLoop(key, url, wanted) {
    const run = async () => {
      let cursor = null;
      let got = 0;
      while (got < wanted) {
        const res = await fetch(cursor === null ? url : url + '&cursor=' + encodeURIComponent(cursor));
        const body = await res.json();
        push(key, { kind: 'poll', status: res.status, body });
        got += body.messages.length;
        cursor = body.cursor;
      }
    };
    run().then(() => push(key, { kind: 'done' }), (err) => push(key, { kind: 'failed', message: String(err) }));
  },
  state(key) { const x = handles.get(key); return x ? x.readyState : -1; },
  async tryFetch(url, init) {
    try {
      const res = await fetch(url, init);
      return { ok: true, status: res.status, body: await res.text() };
    } catch (err) {
      return { ok: false, name: err.name, message: err.message };
    }
  },
};
`;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>herald browser test</title>
<script>${HARNESS}</script></head><body>herald</body></html>`;

export interface PageServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>`, the Origin the browser sends from pages of this server. */
  readonly origin: string;
}

/** Serves the harness page at every path on a free loopback port; closed at teardown. */
export async function startPageServer(t: HasTeardown): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { port, origin: `http://127.0.0.1:${port}` };
}

/** A log entry recorded by the in-page harness. */
export interface PageEntry {
  readonly kind: string;
  readonly [key: string]: unknown;
}

export interface FetchOutcome {
  readonly ok: boolean;
  readonly status?: number;
  readonly body?: string;
  readonly name?: string;
  readonly message?: string;
}

type HarnessFn = (...args: unknown[]) => unknown;

/** Typed calls into the page's harness (`window.h`). */
export class PageHarness {
  private constructor(readonly page: Page) {}

  /** A fresh page (own browser context, so no shared cache or cookies) on `origin`. */
  static async open(t: HasTeardown, browser: Browser, origin: string): Promise<PageHarness> {
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    return new PageHarness(page);
  }

  call<T>(name: string, ...args: unknown[]): Promise<T> {
    return this.page.evaluate(
      ({ name, args }) => {
        const h = (globalThis as unknown as { h: Record<string, HarnessFn> }).h;
        return h[name]!(...args);
      },
      { name, args },
    ) as Promise<T>;
  }

  log(key: string): Promise<PageEntry[]> {
    return this.call<PageEntry[]>('log', key);
  }

  /** Resolves with the whole log once it holds `n` entries of `kind`. */
  until(key: string, kind: string, n: number, timeoutMs = 5000): Promise<PageEntry[]> {
    return this.call<PageEntry[]>('until', key, kind, n, timeoutMs);
  }

  /** Opens an EventSource; `names` are event types recorded besides `message`. */
  sse(key: string, url: string, names: readonly string[] = []): Promise<void> {
    return this.call<void>('sse', key, url, names);
  }

  /** Opens a WebSocket and sends each of `frames` (as JSON) once it is open. */
  ws(key: string, url: string, frames: readonly object[] = []): Promise<void> {
    return this.call<void>('ws', key, url, frames);
  }

  close(key: string): Promise<void> {
    return this.call<void>('close', key);
  }

  /**
   * Starts a fetch long-poll loop that follows the cursor until it has `wanted` messages; each
   * answer is logged as `poll`, the end as `done` (or `failed`).
   */
  pollLoop(key: string, url: string, wanted: number): Promise<void> {
    return this.call<void>('pollLoop', key, url, wanted);
  }

  /** The readyState of an EventSource or WebSocket opened under `key` (-1 when none). */
  state(key: string): Promise<number> {
    return this.call<number>('state', key);
  }

  /** fetch() in the page; a rejection (e.g. a CORS failure) is returned as `{ ok: false, name, message }`. */
  tryFetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<FetchOutcome> {
    return this.call<FetchOutcome>('tryFetch', url, init);
  }
}
