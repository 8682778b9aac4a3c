/**
 * What differs in how the load generator talks to each target; every Nchan special case is
 * here, so the worker's parsing and accounting read the same for all targets.
 */
import { pollNextHeaders } from './wire.mjs';

/**
 * A long-poller's first cursor: not a position, so Herald and the floor answer at once (Herald
 * with a `reset`, reason invalid) with the head cursor to continue from. That answer is the
 * poller's live signal, and the next poll, held, cannot miss anything after it.
 */
export const PRIME = 'prime';

const CURSORED = {
  /** Herald and the floor say when a subscriber is live (`retry:`, `subscribed`, a poll answer). */
  liveOnAnswer: false,
  readHead() {},
  pollHeaders() {
    return '';
  },
  /**
   * The next cursor from a poll answer's tail, and whether the answer was an explicit `reset`
   * (the priming answer's reset is expected, not counted). null: no cursor in the answer.
   */
  pollAnswer(c, tail) {
    const m = /"cursor":"([^"]+)"/.exec(tail);
    if (!m) return null;
    return { cursor: m[1], reset: tail.includes('"reset"') && c.cursor !== PRIME };
  },
};

const NCHAN = {
  /** Nchan says nothing on subscribe: its success answer (200 / 101) is the live signal. */
  liveOnAnswer: true,
  /** Long-poll continues from the previous answer's Last-Modified and Etag. */
  readHead(c, text) {
    if (c.transport !== 'poll') return;
    const e = /\r\netag:\s*([^\r]*)/i.exec(text);
    const m = /\r\nlast-modified:\s*([^\r]*)/i.exec(text);
    if (e) c.etag = e[1];
    if (m) c.lastMod = m[1];
  },
  pollHeaders(c) {
    return pollNextHeaders(c.etag, c.lastMod);
  },
  /** Nchan long-poll signals no gap and carries no cursor (see bench/README.md). */
  pollAnswer(c) {
    return { cursor: c.cursor, reset: false };
  },
};

export function targetProfile(target) {
  return target === 'nchan' ? NCHAN : CURSORED;
}
