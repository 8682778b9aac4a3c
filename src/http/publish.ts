import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { HeraldError, isHeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Route } from '../rules/router.js';
import type { CorsPolicy } from './cors.js';
import type { PublishOutcome } from './publish-outcome.js';
import { isLoopback, readBody, readRequest } from './request.js';
import { readHead, type RequestHead } from './request-screen.js';
import { writeError, writeJson } from './server.js';

export interface PublishDeps {
  route(channel: string): Route | HeraldError;
  /** null = allowed. `key` is '' when none was presented. */
  authorize(route: Route, key: string, loopback: boolean): HeraldError | null;
  /** Plain channels PUBLISH; durable ones (history.store: redis) go through FCALL herald_publish. */
  publish(route: Route, payload: string): Promise<number>;
  count(outcome: PublishOutcome): void;
  readonly maxBodyBytes: () => number;
  readonly cors: () => CorsPolicy;
  readonly enabled: () => boolean;
  readonly trustedIpHeader: () => string;
  readonly log: Logger;
}

/**
 * POST /publish  {"channel": "...", "data": ...}
 * `text` channels take a string `data`, published verbatim; `json` channels take any JSON
 * value, published as its JSON text. Answers as soon as the broker has accepted the message
 * (it does not wait for the fan-out): 200 {"ok":true,"channel":"…","receivers":N}, where
 * receivers is the broker's PUBLISH reply (its subscribers, e.g. Herald processes), not clients.
 */
export function publishHandler(deps: PublishDeps): (res: HttpResponse, req: HttpRequest, head?: RequestHead) => Promise<void> {
  return async (res, req, screened) => {
    const head = screened ?? readHead(req, deps.trustedIpHeader());
    const facts = readRequest(res, req, deps.trustedIpHeader(), head);
    const key = apiKey(facts.authorization, head.apiKey);
    const cors = deps.cors().headers(facts.origin);
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const answer = (status: number, body: string): void => {
      if (!aborted) res.cork(() => writeJson(res, status, body, cors));
    };
    const fail = (err: HeraldError, outcome: PublishOutcome): void => {
      deps.count(outcome);
      if (!aborted) res.cork(() => writeError(res, err, cors));
    };
    if (!deps.enabled()) return fail(new HeraldError('not_found', 'publishing is disabled (publish.enabled)'), 'forbidden');
    const body = await readBody(res, deps.maxBodyBytes());
    if (body === null) return fail(new HeraldError('payload_too_large', `at most ${deps.maxBodyBytes()} bytes (limits.maxPublishBodyBytes)`), 'too_large');
    const parsed = parseRequest(body);
    if (isHeraldError(parsed)) return fail(parsed, 'invalid');
    const route = deps.route(parsed.channel);
    if (isHeraldError(route)) return fail(route, 'invalid');
    const denied = deps.authorize(route, key, isLoopback(facts.ip));
    if (denied !== null) return fail(denied, denied.code === 'publish_forbidden' ? 'forbidden' : 'unauthorized');
    let payload: string;
    if (route.rule.payload === 'json') payload = JSON.stringify(parsed.data);
    else if (typeof parsed.data === 'string') payload = parsed.data;
    else return fail(new HeraldError('bad_request', '`data` must be a string on a text channel'), 'invalid');
    try {
      const receivers = await deps.publish(route, payload);
      deps.count('ok');
      answer(200, JSON.stringify({ ok: true, channel: route.channel, receivers }));
    } catch (err) {
      if (!isHeraldError(err)) throw err;
      fail(err, 'unavailable');
    }
  };
}

function apiKey(authorization: string, header: string): string {
  if (header !== '') return header;
  const m = /^bearer\s+(\S+)\s*$/i.exec(authorization);
  return m === null ? '' : m[1]!;
}

function parseRequest(body: Buffer): { channel: string; data: unknown } | HeraldError {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return new HeraldError('bad_request', 'body must be JSON: {"channel": "...", "data": ...}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new HeraldError('bad_request', 'body must be a JSON object: {"channel": "...", "data": ...}');
  }
  const { channel, data } = value as { channel?: unknown; data?: unknown };
  if (typeof channel !== 'string') return new HeraldError('channel_required', '`channel` must be a string');
  if (data === undefined) return new HeraldError('bad_request', '`data` is required');
  return { channel, data };
}
