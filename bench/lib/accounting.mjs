/**
 * What one subscriber received against what was published on its channel: the lost, late,
 * reset and duplicate figures the published bench results rest on. Pure; unit-tested in
 * test/unit/bench-accounting.test.ts.
 *
 * A tally per subscriber:
 *   last         highest payload seq parsed (seqs of a measured window are 0 … expected-1)
 *   count        distinct messages parsed
 *   gap          seqs skipped (a jump past last + 1) since the last poll answer ended
 *   answerMsgs   messages in the current poll answer
 *   resetMissed  seqs a server `reset` said were skipped (told, not silent)
 *   resetOpen    a reset not yet followed by any message: the next jump is what it skipped
 */

/** @returns {import('./accounting.d.mts').Tally} */
export function newTally() {
  return { last: -1, count: 0, gap: 0, answerMsgs: 0, resetMissed: 0, resetOpen: false };
}

/** A parsed payload seq. True when it is new (counted); false for a duplicate or an older one. */
export function recordSeq(t, seq) {
  if (seq <= t.last) return false;
  if (seq > t.last + 1) t.gap += seq - t.last - 1;
  if (t.resetOpen) {
    t.resetOpen = false;
    t.resetMissed += t.gap;
    t.gap = 0;
  }
  t.last = seq;
  t.count++;
  t.answerMsgs++;
  return true;
}

/**
 * A poll answer ended. `reset`: the server said it skipped messages (Herald: the cursor fell
 * out of history); the gap in this answer is then told, and with no message after the jump
 * yet, the next message's jump is what the reset skipped.
 */
export function answerEnded(t, reset) {
  if (reset) {
    t.resetMissed += t.gap;
    t.resetOpen = t.answerMsgs === 0;
  }
  t.gap = 0;
  t.answerMsgs = 0;
}

/** The measured window starts: counts from zero (the position, `last`, is kept). */
export function restartWindow(t) {
  t.count = 0;
  t.gap = 0;
  t.resetMissed = 0;
  t.resetOpen = false;
}

/**
 * Of `expected` messages published on the subscriber's channel, why the ones it did not
 * parse are missing: told (a reset; an open one covers everything still missing), late
 * (after the last one it got: not there when the window closed), or lost (skipped silently).
 */
export function classifyMissing(t, expected) {
  const missing = expected - t.count;
  if (missing <= 0) return { resets: 0, late: 0, lost: 0 };
  const resets = t.resetOpen ? missing : Math.min(missing, t.resetMissed);
  const late = Math.min(missing - resets, Math.max(0, expected - 1 - t.last));
  return { resets, late, lost: missing - resets - late };
}
