/** URLs and payloads shared by the load generator, the floor server and the targets. */

export function pathFor(target, transport, channel, cursor) {
  // A message id older than any: a new subscriber first gets what the channel buffer holds (the
  // warm-up message published before subscribers connect), which is Nchan's only live signal
  // on WebSocket and long-poll. Later polls continue from If-Modified-Since / If-None-Match.
  if (target === 'nchan') return `/sub/${transport}?id=${encodeURIComponent(channel)}&last_event_id=1:0`;
  const base = `/${transport}?channel=${encodeURIComponent(channel)}`;
  return cursor ? `${base}&cursor=${encodeURIComponent(cursor)}` : base;
}

/** Nchan long-poll continues from the previous answer's Last-Modified and Etag. */
export function pollNextHeaders(etag, lastMod) {
  if (!lastMod) return '';
  return `If-Modified-Since: ${lastMod}\r\nIf-None-Match: ${etag}\r\n`;
}

export const channelName = (i) => `bench:c${i}`;

/** `@<seq>,<sendTimeUs>;` padded with 'x' to `size` bytes: no byte needs escaping anywhere. */
export function payload(seq, tsUs, size) {
  const head = `@${seq},${tsUs};`;
  return head.length >= size ? head : head + 'x'.repeat(size - head.length);
}

export const WARM = 'warm';
