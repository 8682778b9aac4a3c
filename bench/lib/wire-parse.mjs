/**
 * The load generator's incremental parsers: each keeps its state on the connection object,
 * so a chunk boundary can fall anywhere. They parse only what the bench needs: the payload
 * marker, HTTP/1.1 chunked framing and WebSocket frame headers.
 */

/** Payload marker `@<seq>,<sendTimeUs>;` (the only '@' on the wire): where the scanner is. */
export const MARK = { OUTSIDE: 0, SEQ: 1, TIME: 2 };

/**
 * Scans buf[from, to) for markers; calls `onPayload(c, seq, sendTimeUs)` per complete one and
 * `onBad(c)` for a malformed one. State: c.sc (MARK), c.seq, c.ts.
 */
export function scanPayloads(c, buf, from, to, onPayload, onBad) {
  let i = from;
  while (i < to) {
    if (c.sc === MARK.OUTSIDE) {
      const at = buf.indexOf(64, i); // '@'
      if (at === -1 || at >= to) return;
      i = at + 1;
      c.sc = MARK.SEQ;
      c.seq = 0;
      continue;
    }
    const b = buf[i++];
    if (b >= 48 && b <= 57) {
      if (c.sc === MARK.SEQ) c.seq = c.seq * 10 + (b - 48);
      else c.ts = c.ts * 10 + (b - 48);
    } else if (c.sc === MARK.SEQ && b === 44) { // ','
      c.sc = MARK.TIME;
      c.ts = 0;
    } else if (c.sc === MARK.TIME && b === 59) { // ';'
      c.sc = MARK.OUTSIDE;
      onPayload(c, c.seq, c.ts);
    } else {
      c.sc = MARK.OUTSIDE;
      onBad(c);
    }
  }
}

/** Chunked transfer coding (RFC 9112 §7.1): where the decoder is. */
export const CHUNK = {
  SIZE: 0, //        hex digits of the chunk size
  SIZE_LF: 1, //     CR seen after the size line: its LF next
  DATA_CRLF: 2, //   chunk data done: skip to the LF of its CRLF
  EXTENSION: 3, //   `;ext` after the size: skip to CR
  LAST_CRLF: 4, //   after the last (0) chunk: skip to the final LF
};

/**
 * Decodes chunked framing from buf[from…]: body bytes go to `onBody(c, buf, from, to)`; at
 * the end of the message `onEnd(c, buf, next)` gets the index of the first byte after it (a
 * pipelined next answer) and decoding stops. State: c.ckState, c.ckSize, c.ckRemain.
 */
export function dechunk(c, buf, from, onBody, onEnd) {
  let i = from;
  const n = buf.length;
  while (i < n) {
    if (c.ckRemain > 0) {
      const take = Math.min(c.ckRemain, n - i);
      onBody(c, buf, i, i + take);
      i += take;
      c.ckRemain -= take;
      if (c.ckRemain === 0) c.ckState = CHUNK.DATA_CRLF;
      continue;
    }
    const b = buf[i++];
    switch (c.ckState) {
      case CHUNK.SIZE:
        if (b === 13) c.ckState = CHUNK.SIZE_LF;
        else if (b === 59) c.ckState = CHUNK.EXTENSION;
        else c.ckSize = c.ckSize * 16 + (b <= 57 ? b - 48 : (b | 32) - 87);
        break;
      case CHUNK.EXTENSION:
        if (b === 13) c.ckState = CHUNK.SIZE_LF;
        break;
      case CHUNK.SIZE_LF:
        if (c.ckSize === 0) c.ckState = CHUNK.LAST_CRLF;
        else {
          c.ckRemain = c.ckSize;
          c.ckSize = 0;
        }
        break;
      case CHUNK.DATA_CRLF:
        if (b === 10) c.ckState = CHUNK.SIZE;
        break;
      case CHUNK.LAST_CRLF:
        if (b === 10) {
          c.ckState = CHUNK.SIZE;
          onEnd(c, buf, i);
          return;
        }
        break;
    }
  }
}

/** WebSocket opcodes the bench cares about (RFC 6455 §5.2). */
export const WS_OP = { CONTINUATION: 0, TEXT: 1, CLOSE: 8 };

/**
 * Reads server frames from buf[from…]: payload bytes of text (and continuation) frames go to
 * `onText(c, buf, from, to)`; `onFrame(c, opcode)` once per frame header. Server frames are
 * unmasked. State: c.wh (10-byte header buffer), c.whLen, c.wsRemain, c.wsOp.
 */
export function wsFeed(c, buf, from, onText, onFrame) {
  let i = from;
  const n = buf.length;
  while (i < n) {
    if (c.wsRemain > 0) {
      const take = Math.min(c.wsRemain, n - i);
      if (c.wsOp <= WS_OP.TEXT) onText(c, buf, i, i + take);
      i += take;
      c.wsRemain -= take;
      continue;
    }
    c.wh[c.whLen++] = buf[i++];
    if (c.whLen < 2) continue;
    const l7 = c.wh[1] & 127;
    const need = l7 < 126 ? 2 : l7 === 126 ? 4 : 10;
    if (c.whLen < need) continue;
    const len = l7 < 126 ? l7 : l7 === 126 ? c.wh.readUInt16BE(2) : Number(c.wh.readBigUInt64BE(2));
    c.wsOp = c.wh[0] & 15;
    c.whLen = 0;
    c.wsRemain = len;
    onFrame(c, c.wsOp);
  }
}

/** Status and framing facts of a response head (text up to, not including, CRLFCRLF). */
export function parseHead(text) {
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
  return {
    status: Number(text.slice(9, 12)),
    chunked: /\r\ntransfer-encoding:\s*chunked/i.test(text),
    contentLength: cl ? Number(cl[1]) : -1,
    keepAlive: !/\r\nconnection:\s*close/i.test(text),
  };
}
