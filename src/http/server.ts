import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { ErrorCode, HeraldError, isHeraldError, type ErrorCodeName, type ErrorSpec } from '../errors.js';
import type { Logger } from '../log.js';
import { readHead, screenRequest, type RequestHead, type ScreenLimits } from './request-screen.js';

/** uWS listen options (the `ListenOptions` enum exists only in the typings). */
const LISTEN_SHARED = 0;
const LISTEN_EXCLUSIVE_PORT = 1;

/** `head`: the request head the screen read, for readRequest() (absent on an unscreened server). */
export type Handler = (res: HttpResponse, req: HttpRequest, head?: RequestHead) => void | Promise<void>;

/**
 * The uWebSockets.js package silently falls back to a slow pure-JS shim when its native
 * binary does not load (wrong Node ABI or glibc). Herald refuses to run on it.
 */
export function assertNativeUws(): void {
  const app = (uWS as { App?: unknown }).App;
  if (typeof app !== 'function' || !Function.prototype.toString.call(app).includes('[native code]')) {
    throw new Error(
      'uWebSockets.js native binary did not load (pure-JS fallback active); Herald needs the native build for ' +
        `${process.platform}-${process.arch} Node ABI ${process.versions.modules}. Reinstall with npm ci on Node 20, glibc ≥ 2.27.`,
    );
  }
}

/**
 * Responses a transport has taken over for a long-lived stream or hold, so a handler that
 * throws afterwards is not answered with an error status in the middle of a body.
 * Most claims happen in a handler's synchronous part: one module-level slot records those
 * for free; only claims after an await (token checks) go into the WeakSet (an insert per
 * poll cycle measured ~2% of CPU). No property on the uWS object: that costs every
 * response its own property storage.
 */
let handling: HttpResponse | null = null;
let handlingClaimed = false;
const claimedLater = new WeakSet<HttpResponse>();

export function claimResponse(res: HttpResponse): void {
  if (res === handling) handlingClaimed = true;
  else claimedLater.add(res);
}

export function releaseResponse(res: HttpResponse): void {
  if (res === handling) handlingClaimed = false;
  else claimedLater.delete(res);
}

/** Writes a JSON error answer; only valid while the response is open and corked. */
export function writeError(
  res: HttpResponse,
  err: HeraldError,
  headers: readonly (readonly [string, string])[] = [],
  closeConnection = false,
): void {
  res.writeStatus(jsonHead(err.status));
  for (const [k, v] of headers) res.writeHeader(k, v);
  const retryAfterS = (ErrorCode[err.code] as ErrorSpec).retryAfterS;
  if (retryAfterS !== undefined) res.writeHeader('Retry-After', String(retryAfterS));
  res.end(JSON.stringify(err.toJSON()), closeConnection);
}

/**
 * Answers a refused request with its error and closes the connection, the bytes after it being
 * untrustworthy (a request whose framing is in doubt). The answer waits for the next turn:
 * answered at once, uWS would go on to parse the rest of this read as a pipelined request,
 * which is exactly the smuggling being refused. Left unanswered, uWS cuts the connection
 * itself when a further request follows in the same read (no answer, nothing processed).
 */
export function refuseAndClose(res: HttpResponse, err: HeraldError): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  setImmediate(() => {
    if (!aborted) res.cork(() => writeError(res, err, [], true));
  });
}

export function writeJson(
  res: HttpResponse,
  status: number,
  body: string | Buffer,
  headers: readonly (readonly [string, string])[] = [],
  closeConnection = false,
): void {
  res.writeStatus(jsonHead(status));
  for (const [k, v] of headers) res.writeHeader(k, v);
  res.end(body, closeConnection);
}

/**
 * A status line and fixed headers as one block, encoded once: uWS writes writeStatus's
 * argument between "HTTP/1.1 " and a CRLF (HttpResponse::writeStatus), so one native call
 * carries the whole fixed head. Each native call costs a poll cycle ~0.1–0.2 µs (the call,
 * its arguments' backing stores: bench/issue-15.md, sixth pass), and a Buffer is
 * copied as is where a JS string is converted to UTF-8 on every call. Only constant
 * text goes in here; per-request values (CORS) go through writeHeader, whose values
 * cannot carry a line break (uWS's parser ends a header value at one).
 */
export function responseHead(status: number, headers: readonly (readonly [string, string])[]): Buffer {
  return Buffer.from([`${status} ${REASONS[status] ?? 'Status'}`, ...headers.map(([k, v]) => `${k}: ${v}`)].join('\r\n'));
}

const JSON_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Type', 'application/json'],
  ['Cache-Control', 'no-store'],
];

const REASONS: Record<number, string> = {
  200: 'OK', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 414: 'URI Too Long', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

const JSON_HEADS = new Map<number, Buffer>();
const JSON_200 = responseHead(200, JSON_HEADERS);

/** The status line and the JSON headers, encoded once per status. */
function jsonHead(status: number): Buffer {
  if (status === 200) return JSON_200;
  let head = JSON_HEADS.get(status);
  if (head === undefined) JSON_HEADS.set(status, (head = responseHead(status, JSON_HEADERS)));
  return head;
}

/** What the server checks on every request before its handler (request-screen.ts). */
export interface RequestScreenHooks {
  limits(): ScreenLimits;
  trustedIpHeader(): string;
  /** A request was refused by the screen: count it as a client error. */
  refused(code: ErrorCodeName): void;
}

/**
 * The uWS app, its route table and listener. Every handler runs inside guard(): the request
 * is screened (framing, sizes; refused with its code and the connection closed), then a thrown
 * error is logged once and answered with 500 if the response is still open.
 */
export class HttpServer {
  readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;

  constructor(
    private readonly log: Logger,
    private readonly screen: RequestScreenHooks | null = null,
  ) {
    assertNativeUws();
    this.app = uWS.App();
  }

  get(pattern: string, handler: Handler): this {
    this.app.get(pattern, this.guard(handler));
    return this;
  }

  post(pattern: string, handler: Handler): this {
    this.app.post(pattern, this.guard(handler));
    return this;
  }

  options(pattern: string, handler: Handler): this {
    this.app.options(pattern, this.guard(handler));
    return this;
  }

  /** Routes not matched by anything else. */
  fallback(): this {
    this.app.any('/*', (res) => writeError(res, new HeraldError('not_found')));
    return this;
  }

  /**
   * `share` binds with SO_REUSEPORT (uWS's default) so sibling workers, or the next generation
   * of a rolling restart, listen on the same port. Otherwise the bind is exclusive: a second
   * Herald on a busy port must fail loudly, not quietly take half the connections.
   */
  listen(host: string, port: number, share = false): Promise<number> {
    return new Promise((resolve, reject) => {
      const options = share ? LISTEN_SHARED : LISTEN_EXCLUSIVE_PORT;
      const onListen = (socket: us_listen_socket | false): void => {
        if (socket === false) {
          reject(new Error(
            `cannot listen on ${host}:${port} (server.host / server.port): the port is in use by another process, or the address is not ` +
              'available on this machine. Stop the other process or pick another port; to share a port on purpose use `--workers N` ' +
              'or server.reusePort: true',
          ));
          return;
        }
        this.listenSocket = socket;
        resolve(uWS.us_socket_local_port(socket as unknown as Parameters<typeof uWS.us_socket_local_port>[0]));
      };
      // The typings lack the (host, port, options, cb) overload the native binding has.
      (this.app.listen as unknown as (h: string, p: number, o: number, cb: typeof onListen) => void)(host, port, options, onListen);
    });
  }

  /** Stops accepting new connections; open ones stay. */
  stopListening(): void {
    if (this.listenSocket !== null) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  private guard(handler: Handler): Handler {
    return (res, req) => {
      let head: RequestHead | undefined;
      if (this.screen !== null) {
        head = readHead(req, this.screen.trustedIpHeader());
        if (this.refuse(res, req, head, this.screen)) return;
      }
      handling = res;
      handlingClaimed = false;
      try {
        const out = handler(res, req, head);
        if (out instanceof Promise) {
          // Code after the handler's await must still see a claim made before it.
          if (handlingClaimed) claimedLater.add(res);
          out.catch((err: unknown) => this.fail(res, err, claimedLater.has(res)));
        }
      } catch (err) {
        this.fail(res, err, handlingClaimed);
      } finally {
        handling = null;
      }
    };
  }

  /** True when the screen refused the request (answered, and the connection closes after). */
  private refuse(res: HttpResponse, req: HttpRequest, head: RequestHead, screen: RequestScreenHooks): boolean {
    const refusal = screenRequest(req, head, screen.limits());
    if (refusal === null) return false;
    screen.refused(refusal.code);
    this.log.debug('request refused', { code: refusal.code });
    // Only a framing problem makes the bytes after the request untrustworthy; a size refusal
    // is answered at once (the connection still closes: the client may be sending more).
    if (refusal.code === 'content_length_invalid') refuseAndClose(res, refusal);
    else writeError(res, refusal, [], true);
    return true;
  }

  private fail(res: HttpResponse, err: unknown, claimed: boolean): void {
    if (isHeraldError(err)) this.log.debug('request failed', { code: err.code });
    else this.log.error('handler crashed', { err: err instanceof Error ? err : new Error(String(err)) });
    const herr = isHeraldError(err) ? err : new HeraldError('internal');
    if (claimed) {
      // A transport owns this response (a stream may already be flowing): cut it rather than
      // write an error status into the middle of a body.
      res.close();
      return;
    }
    try {
      res.cork(() => writeError(res, herr));
    } catch (writeErr) {
      // The response was already ended or aborted: nothing more to tell this client.
      this.log.debug('could not answer after failure', { err: writeErr as Error });
    }
  }
}
