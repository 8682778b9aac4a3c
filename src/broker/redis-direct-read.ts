import { createConnection, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { AbstractConnector, type RedisOptions } from 'ioredis';

/**
 * ioredis' standalone connector, except that a plain TCP (or Unix) socket reads into one
 * buffer of its own (Node's `onread`) instead of through a Readable stream. A stream read
 * allocates a 64 KiB buffer, shrinks it to the bytes read, wraps it in a new ArrayBuffer and
 * Buffer, and pushes it through the stream's queue and 'data' emitter; a subscriber link gets
 * one read per few messages, and where channels have one or a few subscribers that read is a
 * large part of what each delivery costs (bench/issue-15.md, ninth pass).
 *
 * Until a reader takes the socket's reads (takeReads), each read is copied and emitted as
 * 'data', so ioredis sees exactly what a stream would have given it. TLS keeps the stream
 * path (Node's TLS socket has no `onread`).
 */
export class DirectReadConnector extends AbstractConnector {
  readonly #options: RedisOptions;

  /** ioredis passes its own options object (typed unknown by its ConnectorConstructor). */
  constructor(options: unknown) {
    const o = options as RedisOptions;
    super(o.disconnectTimeout ?? DISCONNECT_TIMEOUT_MS);
    // Read at each connect, not copied: a classic-cluster link rotates host and port in them.
    this.#options = o;
  }

  connect(): Promise<Socket | TLSSocket> {
    const o = this.#options;
    this.connecting = true;
    // A new Promise resolved in a later tick, like ioredis' own connector: the caller attaches
    // its handlers before the socket can emit anything.
    return new Promise((resolve, reject) => {
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error('Connection is closed.'));
          return;
        }
        try {
          this.stream = o.tls ? connectTls({ ...endpoint(o), ...o.tls }) : directSocket(endpoint(o));
        } catch (err) {
          reject(err as Error);
          return;
        }
        this.stream.once('error', (err: Error) => {
          this.firstError = err;
        });
        resolve(this.stream);
      });
    });
  }
}

/** ioredis' default (RedisOptions.disconnectTimeout). */
const DISCONNECT_TIMEOUT_MS = 2000;
const READ_BUFFER_BYTES = 64 * 1024;

/** Where each read of a direct socket goes; a view into the socket's buffer, valid during the call only. */
export type ReadSink = (chunk: Buffer) => void;

interface DirectRead {
  sink: ReadSink | null;
}

const directReads = new WeakMap<Socket, DirectRead>();

/** ioredis' defaults (RedisOptions) fill host and port; the fallbacks are those defaults. */
function endpoint(o: RedisOptions): { path: string } | { host: string; port: number; family?: number } {
  if (o.path) return { path: o.path };
  return { host: o.host ?? 'localhost', port: o.port ?? 6379, ...(o.family != null && { family: o.family }) };
}

function directSocket(at: ReturnType<typeof endpoint>): Socket {
  const read: DirectRead = { sink: null };
  const socket = createConnection({
    ...at,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      // Returns true: false would pause the socket.
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        const chunk = (buffer as Buffer).subarray(0, bytes);
        if (read.sink !== null) read.sink(chunk);
        // Nobody has taken the reads: hand ioredis what a stream would have (its own copy).
        else socket.emit('data', Buffer.from(chunk));
        return true;
      },
    },
  });
  directReads.set(socket, read);
  return socket;
}

/**
 * Sends every later read of `stream` to `sink` instead of its 'data' listeners. False (and
 * nothing changed) when the stream was not made by DirectReadConnector, or reads into a
 * stream after all (TLS): the caller keeps reading 'data'.
 */
export function takeReads(stream: unknown, sink: ReadSink): boolean {
  const read = directReads.get(stream as Socket);
  if (read === undefined) return false;
  read.sink = sink;
  return true;
}
