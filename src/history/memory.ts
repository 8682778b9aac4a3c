import type { HistoryConfig } from '../config/types.js';
import { WINDOW } from '../hub/fingerprint.js';
import type { PreparedMessage } from '../hub/message.js';
import type { Coverage, History, Located, Replay } from '../hub/ports.js';

/**
 * In-process history: one bounded ring per covered channel, and one fingerprint index over
 * every ring (so a resume finds a message with one map lookup, never a scan of channels).
 *
 * The index is built on the first lookup and kept up to date while lookups come; a sweep
 * that finds no lookup since the previous one drops it (30–60 s after the last). Only
 * resumes with another process's id (and durable resumes) look up, and a single process has none: there, a map insert and delete per message on a
 * table of every kept message (100,000 at 1,000 channels × 100) was ~2.5 µs of each
 * message's ~13 µs of hub work. Building it costs one pass over history (~10 ms per 100,000
 * kept), paid by the first lookup after an idle spell.
 *
 *   ring (capacity = rule history size)       evictedUpTo / evictedDs     coveredFrom / coveredFromDs
 *   ┌────┬────┬────┬────┬────┐                newest message that left     seq and wall time taken when
 *   │ 41 │ 57 │ 58 │ 63 │ 70 │ ← newest        the ring                     the broker subscription went live
 *   └────┴────┴────┴────┴────┘
 *   index: fp ──► { newest message with that fp, count in all rings }
 *
 * Invariants: seqs in the ring increase; everything with seq > max(coveredFrom, evictedUpTo)
 * that reached this channel is in the ring, and so is everything received after
 * max(coveredFromDs, evictedDs). While the index exists it holds exactly the kept messages;
 * count > 1 means the fp is ambiguous here. An uncovered
 * channel is forgotten at once: nothing published while no broker subscription existed can be
 * vouched for.
 */

interface Ring extends Coverage {
  readonly key: string;
  /** uncover() ended it: a handle still held takes no more messages. */
  ended: boolean;
  coveredFrom: number;
  coveredFromDs: number;
  evictedUpTo: number;
  evictedDs: number;
  newest: PreparedMessage | null;
  items: PreparedMessage[];
  head: number; // index of the oldest item
}

interface IndexEntry {
  /** The newest message with this fp; null once it left while an older twin stays (ambiguous). */
  message: PreparedMessage | null;
  key: string;
  count: number;
}

export class MemoryHistory implements History {
  private readonly rings = new Map<string, Ring>();
  /** null until a lookup needs it (see above). */
  private index: Map<string, IndexEntry> | null = null;
  private indexUsed = false;

  get channelCount(): number {
    return this.rings.size;
  }

  cover(key: string, fromSeq: number, fromDs: number): Coverage {
    this.uncover(key);
    const ring: Ring = { key, ended: false, coveredFrom: fromSeq, coveredFromDs: fromDs, evictedUpTo: 0, evictedDs: 0, newest: null, items: [], head: 0 };
    this.rings.set(key, ring);
    return ring;
  }

  uncover(key: string): void {
    const ring = this.rings.get(key);
    if (ring === undefined) return;
    for (let i = ring.head; i < ring.items.length; i++) this.unindex(ring.items[i]!);
    ring.ended = true;
    this.rings.delete(key);
  }

  coverage(key: string): Coverage | null {
    return this.rings.get(key) ?? null;
  }

  locate(fp: string): Located {
    this.indexUsed = true;
    const entry = (this.index ??= this.buildIndex()).get(fp);
    if (entry === undefined) return null;
    return entry.count > 1 || entry.message === null ? 'ambiguous' : { message: entry.message, key: entry.key };
  }

  mayBeShortTwin(key: string, message: PreparedMessage): boolean {
    const ring = this.rings.get(key);
    if (ring === undefined) return true;
    const items = ring.items;
    const at = indexOfSeq(items, ring.head, message.seq);
    for (let i = ring.head; i < items.length && items[i]!.windowLength < WINDOW; i++) {
      const n = items[i]!.windowLength;
      if (at < 0) return true;
      // Compare what is still in the ring; a window partly evicted and equal so far might be a twin.
      let same = true;
      for (let k = 0; k < n && same; k++) {
        if (i - k < ring.head || at - k < ring.head) break;
        same = items[i - k]!.digest === items[at - k]!.digest;
      }
      if (same) return true;
    }
    return false;
  }

  append(coverage: Coverage, message: PreparedMessage, limits: HistoryConfig, nowMs: number): void {
    // Only cover() makes coverages here: it is one of this history's rings.
    const ring = coverage as Ring;
    if (ring.ended) return;
    if (limits.size === 0) {
      ring.evictedUpTo = message.seq;
      ring.evictedDs = message.ds;
      return;
    }
    ring.items.push(message);
    ring.newest = message;
    if (this.index !== null) addToIndex(this.index, ring.key, message);
    const overflow = ring.items.length - ring.head - limits.size;
    if (overflow > 0) this.evict(ring, overflow);
    this.expire(ring, limits, nowMs);
    // Compact lazily so eviction is O(1) amortised instead of shift() per message.
    if (ring.head > 64 && ring.head * 2 > ring.items.length) {
      ring.items = ring.items.slice(ring.head);
      ring.head = 0;
    }
  }

  replay(key: string, afterSeq: number, limits: HistoryConfig, nowMs: number, max: number): Replay {
    const ring = this.rings.get(key);
    if (ring === undefined || afterSeq < ring.coveredFrom) return { ok: false, reason: 'not_covered' };
    this.expire(ring, limits, nowMs);
    if (afterSeq < ring.evictedUpTo) return { ok: false, reason: 'evicted' };
    // The usual answer, a position at the newest message (every poll cycle): nothing allocated.
    if (ring.items.length === ring.head || ring.items[ring.items.length - 1]!.seq <= afterSeq) return NOTHING_AFTER;
    return this.collect(ring, (m) => m.seq > afterSeq, max);
  }

  replayAfterTime(key: string, ds: number, toleranceDs: number, limits: HistoryConfig, nowMs: number, max: number): Replay {
    const ring = this.rings.get(key);
    if (ring === undefined || ring.coveredFromDs >= ds - toleranceDs) return { ok: false, reason: 'not_covered' };
    this.expire(ring, limits, nowMs);
    if (ring.evictedDs >= ds - toleranceDs) return { ok: false, reason: 'evicted' };
    const r = this.collect(ring, (m) => m.ds >= ds - toleranceDs, max);
    // A message within the tolerance may or may not have reached the client: not a guess, a reset.
    if (r.ok && r.messages.length > 0 && r.messages[0]!.ds <= ds + toleranceDs) return { ok: false, reason: 'ambiguous' };
    return r;
  }

  /** Newest-first walk while `wanted` holds; more than `max` is `evicted` (no partial replay). */
  private collect(ring: Ring, wanted: (m: PreparedMessage) => boolean, max: number): Replay {
    // The wanted run is the ring's tail: found first, then copied once at its size (a catch-up
    // poll at 1,000 msg/s replays ~40 messages: no growing array, no reverse).
    const items = ring.items;
    let start = items.length;
    while (start > ring.head && wanted(items[start - 1]!)) start--;
    if (items.length - start > max) return { ok: false, reason: 'evicted' };
    return { ok: true, messages: items.slice(start) };
  }

  sweep(nowMs: number): number {
    if (!this.indexUsed) this.index = null;
    this.indexUsed = false;
    let dropped = 0;
    for (const ring of this.rings.values()) {
      const before = ring.items.length - ring.head;
      if (before === 0) continue;
      // Without the rule's limits here, only age matters: the hub sweeps with its maximum age.
      const oldest = ring.items[ring.head]!;
      if (oldest.receivedAtMs < nowMs - this.maxAgeMs) {
        this.expire(ring, { size: before, maxAgeMs: this.maxAgeMs, store: 'memory' }, nowMs);
        dropped += before - (ring.items.length - ring.head);
      }
    }
    return dropped;
  }

  /** Upper bound of any rule's maxAge, used by sweep(); set by the daemon from the rules. */
  maxAgeMs = 3_600_000;

  private expire(ring: Ring, limits: HistoryConfig, nowMs: number): void {
    const cutoff = nowMs - limits.maxAgeMs;
    let n = 0;
    for (let i = ring.head; i < ring.items.length && ring.items[i]!.receivedAtMs < cutoff; i++) n++;
    if (n > 0) this.evict(ring, n);
  }

  private evict(ring: Ring, count: number): void {
    const last = ring.items[ring.head + count - 1]!;
    ring.evictedUpTo = last.seq;
    ring.evictedDs = Math.max(ring.evictedDs, last.ds);
    for (let i = ring.head; i < ring.head + count; i++) {
      this.unindex(ring.items[i]!);
      (ring.items as unknown[])[i] = undefined;
    }
    ring.head += count;
    if (ring.head === ring.items.length) {
      ring.items = [];
      ring.head = 0;
      ring.newest = null;
    }
  }

  private unindex(message: PreparedMessage): void {
    const index = this.index;
    if (index === null) return;
    const fp = message.fp;
    const entry = index.get(fp);
    if (entry === undefined) return;
    if (--entry.count === 0) index.delete(fp);
    else if (entry.message === message) entry.message = null; // only a 48-bit collision across channels gets here
  }

  /** Oldest first in each ring, as appends would have made it (locate reads count and the newest). */
  private buildIndex(): Map<string, IndexEntry> {
    const index = new Map<string, IndexEntry>();
    for (const [key, ring] of this.rings) {
      for (let i = ring.head; i < ring.items.length; i++) addToIndex(index, key, ring.items[i]!);
    }
    return index;
  }
}

const NOTHING_AFTER: Replay = Object.freeze({ ok: true, messages: Object.freeze([]) as readonly PreparedMessage[] });

function addToIndex(index: Map<string, IndexEntry>, key: string, message: PreparedMessage): void {
  const fp = message.fp;
  const entry = index.get(fp);
  if (entry === undefined) index.set(fp, { message, key, count: 1 });
  else {
    if (entry.message === null || message.seq > entry.message.seq) {
      entry.message = message;
      entry.key = key;
    }
    entry.count++;
  }
}

/** Binary search by seq among items[head..]; -1 when absent (seqs increase along the ring). */
function indexOfSeq(items: readonly PreparedMessage[], head: number, seq: number): number {
  let lo = head;
  let hi = items.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = items[mid]!.seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
