import type { HistoryConfig } from '../config/types.js';
import type { PreparedMessage } from '../hub/message.js';
import type { History, Replay } from '../hub/ports.js';

/**
 * In-process history: one bounded ring per covered channel.
 *
 *   ring (capacity = rule history size)       evictedUpTo          coveredFrom
 *   ┌────┬────┬────┬────┬────┐                highest seq that     seq taken when the broker
 *   │ 41 │ 57 │ 58 │ 63 │ 70 │ ← newest        left the ring        subscription went live
 *   └────┴────┴────┴────┴────┘
 *
 * Invariants: seqs in the ring increase; everything with seq > max(coveredFrom, evictedUpTo)
 * that reached this channel is in the ring. So a replay after `s` is complete exactly when
 * s ≥ coveredFrom and s ≥ evictedUpTo. An uncovered channel is forgotten at once: nothing
 * published while no broker subscription existed can be vouched for.
 */

interface Ring {
  coveredFrom: number;
  evictedUpTo: number;
  items: PreparedMessage[];
  head: number; // index of the oldest item
}

export class MemoryHistory implements History {
  private readonly rings = new Map<string, Ring>();

  get channelCount(): number {
    return this.rings.size;
  }

  cover(key: string, fromSeq: number): void {
    this.rings.set(key, { coveredFrom: fromSeq, evictedUpTo: 0, items: [], head: 0 });
  }

  uncover(key: string): void {
    this.rings.delete(key);
  }

  append(key: string, message: PreparedMessage, limits: HistoryConfig, nowMs: number): void {
    const ring = this.rings.get(key);
    if (ring === undefined) return;
    if (limits.size === 0) {
      ring.evictedUpTo = message.seq;
      return;
    }
    ring.items.push(message);
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
    const messages: PreparedMessage[] = [];
    // Binary search would pay off only for long rings; replays are rare next to appends.
    for (let i = ring.items.length - 1; i >= ring.head; i--) {
      const item = ring.items[i]!;
      if (item.seq <= afterSeq) break;
      if (messages.length === max) return { ok: false, reason: 'evicted' };
      messages.push(item);
    }
    messages.reverse();
    return { ok: true, messages };
  }

  sweep(nowMs: number): number {
    let dropped = 0;
    for (const ring of this.rings.values()) {
      const before = ring.items.length - ring.head;
      if (before === 0) continue;
      // Without the rule's limits here, only age matters: the hub sweeps with its maximum age.
      const oldest = ring.items[ring.head]!;
      if (oldest.receivedAtMs < nowMs - this.maxAgeMs) {
        this.expire(ring, { size: before, maxAgeMs: this.maxAgeMs }, nowMs);
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
    for (let i = ring.head; i < ring.head + count; i++) (ring.items as unknown[])[i] = undefined;
    ring.head += count;
    if (ring.head === ring.items.length) {
      ring.items = [];
      ring.head = 0;
    }
  }
}
