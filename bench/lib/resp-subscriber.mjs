/**
 * The floors' Redis link: one raw socket, PSUBSCRIBE bench:*, and a minimal RESP reader for
 * `pmessage` pushes (arrays of bulk strings). `onMessage(channel, payload)` gets strings;
 * `onSubscribed()` runs once Redis acknowledged the subscription.
 */
import net from 'node:net';

export function redisSubscriber(port, onMessage, onSubscribed) {
  const sock = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  sock.on('connect', () => sock.write('*2\r\n$10\r\nPSUBSCRIBE\r\n$7\r\nbench:*\r\n'));
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    let i = 0;
    for (;;) {
      const parts = [];
      let p = i;
      if (buf[p] !== 42) break;
      let nl = buf.indexOf(10, p);
      if (nl === -1) break;
      const count = Number(buf.latin1Slice(p + 1, nl - 1));
      p = nl + 1;
      let ok = true;
      for (let k = 0; k < count; k++) {
        nl = buf.indexOf(10, p);
        if (nl === -1) { ok = false; break; }
        if (buf[p] === 58) { parts.push(buf.latin1Slice(p + 1, nl - 1)); p = nl + 1; continue; }
        const len = Number(buf.latin1Slice(p + 1, nl - 1));
        if (nl + 1 + len + 2 > buf.length) { ok = false; break; }
        parts.push(buf.toString('utf8', nl + 1, nl + 1 + len));
        p = nl + 1 + len + 2;
      }
      if (!ok) break;
      i = p;
      if (parts[0] === 'pmessage') onMessage(parts[2], parts[3]);
      else if (parts[0] === 'psubscribe') onSubscribed();
    }
    buf = i === buf.length ? Buffer.alloc(0) : buf.subarray(i);
  });
  sock.on('error', (e) => { process.stderr.write(`floor: redis ${e.message}\n`); process.exit(1); });
}
