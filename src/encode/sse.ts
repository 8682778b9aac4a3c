/**
 * text/event-stream framing (WHATWG HTML §9.2). Pure.
 *
 * A payload is split on every line terminator the spec knows (CRLF, CR, LF) into one `data:`
 * line each; the browser joins them with LF. So LF, empty lines and any UTF-8 arrive byte for
 * byte, while CRLF and lone CR arrive as LF: the format cannot carry a CR. An empty payload
 * is one `data:` line with no value: the data buffer then holds one LF, so EventSource does
 * dispatch it, with data '' (test/unit/properties.test.ts checks this against a spec parser).
 */

const LINE_BREAK = /\r\n|\r|\n/;

export function encodeSseEvent(id: string, event: string, payload: string): string {
  let out = 'id: ' + id + '\n';
  if (event !== '') out += 'event: ' + event + '\n';
  if (payload.indexOf('\n') === -1 && payload.indexOf('\r') === -1) {
    return out + 'data: ' + payload + '\n\n';
  }
  const lines = payload.split(LINE_BREAK);
  for (let i = 0; i < lines.length; i++) out += 'data: ' + lines[i] + '\n';
  return out + '\n';
}

/** A comment line: ignored by clients, keeps proxies and load balancers from idling out. */
export function encodeSseComment(text: string): string {
  return ': ' + text.replace(LINE_BREAK, ' ') + '\n\n';
}

export function encodeSseRetry(retryMs: number): string {
  return 'retry: ' + Math.max(0, Math.floor(retryMs)) + '\n\n';
}

/** A named control event (reset, close) whose data is a small JSON object. */
export function encodeSseControl(event: string, id: string, json: string): string {
  return (id === '' ? '' : 'id: ' + id + '\n') + 'event: ' + event + '\ndata: ' + json + '\n\n';
}

/** Only event names that cannot break the framing are forwarded from payloads. */
export function isSafeEventName(name: string): boolean {
  return name.length > 0 && name.length <= 64 && /^[A-Za-z0-9_.:-]+$/.test(name);
}
