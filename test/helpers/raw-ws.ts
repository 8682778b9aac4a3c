import { connect } from 'node:net';

/** One client frame, built by hand so tests can break the protocol on purpose. */
export function wsFrame(opcode: number, payload: string | Buffer, opts: { fin?: boolean; mask?: boolean; rsv?: number } = {}): Buffer {
  const body = Buffer.from(payload);
  const mask = opts.mask ?? true;
  const head = [((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode];
  let ext = Buffer.alloc(0);
  const m = mask ? 0x80 : 0;
  if (body.length < 126) head.push(m | body.length);
  else if (body.length < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(body.length);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(body.length));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, body]);
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const masked = Buffer.from(body.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

export interface RawWsResult {
  /** Close code of a close frame the server sent, null when it sent none. */
  readonly closeCode: number | null;
  /** Text frames the server sent before the end. */
  readonly texts: string[];
  readonly end: 'closed' | 'timeout';
}

/** Upgrades on a raw socket, sends `frames`, and reads server frames until the socket ends. */
export function rawWs(port: number, frames: readonly Buffer[], timeoutMs = 1500): Promise<RawWsResult> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
    );
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let settled = false;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (upgraded) return;
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      upgraded = true;
      buf = buf.subarray(i + 4);
      for (const f of frames) s.write(f);
    });
    const done = (end: RawWsResult['end']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      const texts: string[] = [];
      let closeCode: number | null = null;
      // Server frames are unmasked; lengths here stay under 64 KiB.
      for (let at = 0; at + 2 <= buf.length; ) {
        const op = buf[at]! & 0x0f;
        let len = buf[at + 1]! & 0x7f;
        let start = at + 2;
        if (len === 126) {
          len = buf.readUInt16BE(at + 2);
          start += 2;
        }
        const payload = buf.subarray(start, start + len);
        if (op === 1) texts.push(payload.toString('utf8'));
        if (op === 8) closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        at = start + len;
      }
      resolve({ closeCode, texts, end });
    };
    s.on('close', () => done('closed'));
    s.on('error', () => done('closed'));
    const timer = setTimeout(() => done('timeout'), timeoutMs);
  });
}
