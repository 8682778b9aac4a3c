import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import type { HasTeardown } from './browser.js';

/**
 * Misbehaving middleboxes for the client's fallback tests, on free loopback ports:
 * - `refuse-upgrades`: forwards HTTP (streaming both ways) but answers every WebSocket
 *   upgrade with 403, like a proxy or firewall that does not speak WebSocket;
 * - `buffer`: also refuses upgrades, and holds every response (status, headers and body)
 *   until the upstream response has ended, like an anti-virus or corporate proxy that
 *   inspects whole bodies: a stream never arrives, a long-poll answer does.
 */
export type ProxyMode = 'refuse-upgrades' | 'buffer';

export interface TestProxy {
  readonly url: string;
  /** WebSocket upgrades refused so far. */
  readonly upgradesRefused: number;
  /** Requests forwarded, by path. */
  readonly requests: Map<string, number>;
}

export async function startProxy(t: HasTeardown, upstreamPort: number, mode: ProxyMode): Promise<TestProxy> {
  const requests = new Map<string, number>();
  let upgradesRefused = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const up = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      if (mode === 'refuse-upgrades') {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        const headers = { ...upRes.headers };
        delete headers['transfer-encoding'];
        res.writeHead(upRes.statusCode ?? 502, { ...headers, 'content-length': String(Buffer.concat(chunks).length) });
        res.end(Buffer.concat(chunks));
      });
    });
    up.on('error', () => res.destroy());
    // The browser gave up (an open timeout, a channel change): end the upstream request too.
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    upgradesRefused++;
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get upgradesRefused() {
      return upgradesRefused;
    },
    requests,
  };
}

/**
 * A TCP forwarder in front of several Herald processes: each new connection goes to the
 * first upstream that accepts it, as a load balancer sends new connections only to live
 * backends. A draining Herald stops listening, so its clients' reconnects land on the next.
 */
export async function startFailover(t: HasTeardown, upstreamPorts: readonly number[]): Promise<{ readonly url: string; readonly wsUrl: string }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const tryPort = (i: number): void => {
      if (i >= upstreamPorts.length) return void client.destroy();
      const up = connect(upstreamPorts[i]!, '127.0.0.1');
      up.once('error', () => tryPort(i + 1));
      up.once('connect', () => {
        sockets.add(up);
        up.removeAllListeners('error');
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
        up.on('close', () => client.destroy());
        client.on('close', () => up.destroy());
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    tryPort(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` };
}
