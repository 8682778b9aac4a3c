/**
 * One subscribe attempt per transport, reduced to 'ok' or the error code the client saw, so
 * auth and limits tests can run the same table over SSE, WebSocket and long-poll.
 * HTTP refusals are also checked for their status (from the error catalogue) and JSON shape.
 */
import type { Test } from 'tap';
import { WsClient } from '../helpers/clients.js';
import { RawSse } from '../helpers/sse.js';
import { ErrorCode, type ErrorCodeName } from '../../src/errors.js';

export type TokenPlace = 'query' | 'header' | 'frame';

export interface Target {
  readonly url: string;
  readonly wsUrl: string;
}

/** Any tap test (TAP or a subtest): only `equal` is used. */
export type Check = Pick<Test, 'equal'>;

interface ErrorBody {
  readonly error?: { readonly code?: string; readonly message?: string; readonly temporary?: boolean };
}

function query(channels: readonly string[], token: string, place: TokenPlace, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  for (const c of channels) q.append('channel', c);
  if (token !== '' && place === 'query') q.set('token', token);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

function authHeader(token: string, place: TokenPlace): Record<string, string> {
  return token !== '' && place === 'header' ? { authorization: `Bearer ${token}` } : {};
}

/** Checks a JSON error answer and returns its code. */
export function httpCode(t: Check, status: number, text: string): string {
  const body = JSON.parse(text) as ErrorBody;
  const code = body.error?.code ?? '<no code>';
  const spec = ErrorCode[code as ErrorCodeName] as (typeof ErrorCode)[ErrorCodeName] | undefined;
  t.equal(status, spec?.status, `HTTP status of ${code}`);
  t.equal(typeof body.error?.message, 'string', `${code} has a message`);
  return code;
}

export async function sseProbe(t: Check, h: Target, channels: readonly string[], token = '', place: TokenPlace = 'query', headers: Record<string, string> = {}): Promise<string> {
  const s = await RawSse.open(`${h.url}/sse?${query(channels, token, place)}`, { ...authHeader(token, place), ...headers });
  try {
    if (s.status === 200) return 'ok';
    return httpCode(t, s.status, await s.body());
  } finally {
    s.close();
  }
}

/** `quick` must be a client class with a short poll hold, so an allowed poll answers soon. */
export async function pollProbe(t: Check, h: Target, channels: readonly string[], token = '', place: TokenPlace = 'query', headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${h.url}/poll?${query(channels, token, place, { client: 'quick' })}`, {
    headers: { ...authHeader(token, place), ...headers },
  });
  const text = await res.text();
  if (res.status === 200) return 'ok';
  return httpCode(t, res.status, text);
}

/** Subscribes on a fresh socket; the token goes in the frame, the URL or the Authorization header. */
export async function wsProbe(t: Check, h: Target, channel: string, token = '', place: TokenPlace = 'frame'): Promise<string> {
  const url = token !== '' && place === 'query' ? `${h.wsUrl}/ws?token=${encodeURIComponent(token)}` : `${h.wsUrl}/ws`;
  const c = await WsClient.open(url, authHeader(token, place));
  try {
    const frame = await c.subscribe(channel, token !== '' && place === 'frame' ? { token } : {});
    if (frame.type === 'subscribed') return 'ok';
    t.equal(frame.type, 'error');
    t.equal(frame.channel, channel, 'error frame names the channel');
    t.equal(typeof frame['message'], 'string', 'error frame has a message');
    return frame.code ?? '<no code>';
  } finally {
    c.close();
  }
}
