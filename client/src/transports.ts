/**
 * The three ways to reach Herald. Each opens one connection for the current channel set and
 * reports to a Sink; it never reconnects, retries or keeps positions itself (the client in
 * index.ts owns that, the same way for all three). Positions and ids are opaque strings:
 * they are passed back to Herald exactly as received, never parsed or compared.
 */

export type TransportName = 'ws' | 'stream' | 'poll';

/** A server frame, as WebSocket and NDJSON send it (poll elements are mapped to it). */
export interface Frame {
  type: string;
  channel?: string;
  id?: string;
  data?: unknown;
  event?: string;
  position?: string;
  reason?: string;
  code?: string;
  message?: string;
}

/** What a connection reports to; every call names the link so stale ones are ignored. */
export interface Sink {
  opened(link: Link): void;
  frame(link: Link, f: Frame): void;
  /** Poll only: every channel of the request is covered up to `cursor`. */
  cursor(link: Link, cursor: string): void;
  /** The connection is over. `again`: the server asked for an immediate reconnect. */
  ended(link: Link, again: boolean, error?: Frame): void;
}

export interface Link {
  readonly t: TransportName;
  close(): void;
  /** WebSocket only: change the channel set on the open connection (a no-op until it is open). */
  send?(f: object): void;
}

export interface Request {
  /** http(s) base URL of Herald, no trailing slash. */
  base: string;
  channels: string[];
  /** Stream and poll: the one position that resumes every channel (WS sends one per subscribe). */
  since: string | undefined;
  token: string | undefined;
  params: Record<string, string>;
}

function query(r: Request, extra: Record<string, string | undefined>, withChannels: boolean): string {
  const q = new URLSearchParams(r.params);
  if (withChannels) for (const c of r.channels) q.append('channel', c);
  const all: Record<string, string | undefined> = { ...extra, token: r.token };
  for (const k in all) if (all[k]) q.set(k, all[k]!);
  return '?' + q;
}

/** WS close codes that mean "reconnect now": 1012 drain, 4001 lifetime (README close codes). */
const AGAIN = [1012, 4001];

export function openWs(sink: Sink, r: Request): Link {
  const ws = new WebSocket(r.base.replace(/^http/, 'ws') + '/ws' + query(r, {}, false));
  const link: Link = {
    t: 'ws',
    close: () => {
      ws.onclose = ws.onmessage = null;
      ws.close();
    },
    // Before open the client has nothing to send: it subscribes every channel when told the socket opened.
    send: (f) => ws.readyState === 1 && ws.send(JSON.stringify(f)),
  };
  ws.onopen = () => sink.opened(link);
  ws.onmessage = (e) => sink.frame(link, JSON.parse(e.data as string) as Frame);
  ws.onclose = (e) => sink.ended(link, AGAIN.includes(e.code));
  return link;
}

/** Reads an error body `{"error":{"code","message"}}`, or makes one from the status. */
async function failure(res: Response): Promise<Frame> {
  const body = (await res.json().catch(() => ({}))) as { error?: Frame };
  return { type: 'error', code: 'http_' + res.status, ...body.error };
}

/**
 * GET /stream: Herald's NDJSON twin of /sse (same resume, lifetime and drain), read with
 * fetch. Not EventSource: its lines are the WebSocket envelopes (so `data` has the same type
 * on every transport and payload-named events arrive), and the headers' arrival is visible,
 * which is how a proxy that holds streams back is told apart.
 */
export function openStream(sink: Sink, r: Request): Link {
  const abort = new AbortController();
  const link: Link = { t: 'stream', close: () => abort.abort() };
  let again = false;
  const read = async (): Promise<void> => {
    const res = await fetch(r.base + '/stream' + query(r, { lastEventId: r.since }, true), { signal: abort.signal, cache: 'no-store' });
    if (!res.ok) return sink.ended(link, false, await failure(res));
    sink.opened(link);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return sink.ended(link, again);
      const lines = (buf + value).split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (line === '') continue;
        const f = JSON.parse(line) as Frame;
        if (f.type === 'end' || f.type === 'reconnect') again = true;
        else if (f.type === 'stream-error') return sink.ended(link, false, f);
        else sink.frame(link, f);
      }
    }
  };
  read().catch(() => sink.ended(link, false));
  return link;
}

/** Herald answers refusals at once, so a poll still held after this long was accepted. */
const HELD_MS = 1000;

export function openPoll(sink: Sink, r: Request): Link {
  let live = true;
  let abort = new AbortController();
  let cursor = r.since;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const link: Link = {
    t: 'poll',
    close: () => {
      live = false;
      clearTimeout(timer);
      abort.abort();
    },
  };
  let opened = false;
  const open = (): void => {
    if (!opened) sink.opened(link);
    opened = true;
  };
  const loop = async (): Promise<void> => {
    while (live) {
      abort = new AbortController();
      timer = setTimeout(open, HELD_MS);
      const res = await fetch(r.base + '/poll' + query(r, { cursor }, true), { signal: abort.signal, cache: 'no-store' });
      clearTimeout(timer);
      if (!res.ok) return sink.ended(link, false, await failure(res));
      const body = (await res.json()) as { messages: Frame[]; cursor: string; reset?: Frame[] };
      open();
      for (const x of body.reset ?? []) sink.frame(link, { ...x, type: 'reset', position: body.cursor });
      for (const m of body.messages) sink.frame(link, { ...m, type: 'message' });
      sink.cursor(link, (cursor = body.cursor));
    }
  };
  loop().catch(() => live && sink.ended(link, false));
  return link;
}
