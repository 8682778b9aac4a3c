/** What a SessionSet keeps on each member: where it sits, so removal needs no lookup. */
export interface Slotted {
  /** Its index in the set's array; -1 when not in a set. */
  sessionSlot: number;
}

/**
 * The open connections of one transport: an array, each member knowing its own index, so
 * add and delete are a push and a swap with the last (no hashing). A Set of sessions cost a
 * long-poll cycle ~0.6 µs in its add and delete (perf, many-channels poll, 5,000 held: an
 * identity-hash lookup in a table of thousands that misses the cache, and periodic rehashes),
 * ~2% of the cycle. A session is in at most one set (one transport's lifecycle).
 *
 * Iteration walks a copy: the ticks, drains and sweeps that iterate end sessions as they go,
 * which a swap-with-last delete would otherwise make them skip.
 */
export class SessionSet<S extends Slotted> implements Iterable<S> {
  private readonly items: S[] = [];

  get size(): number {
    return this.items.length;
  }

  add(session: S): void {
    if (session.sessionSlot !== -1) return;
    session.sessionSlot = this.items.length;
    this.items.push(session);
  }

  /** False when it was not in the set. */
  delete(session: S): boolean {
    const slot = session.sessionSlot;
    if (slot === -1 || this.items[slot] !== session) return false;
    session.sessionSlot = -1;
    const last = this.items.pop()!;
    if (last !== session) {
      this.items[slot] = last;
      last.sessionSlot = slot;
    }
    return true;
  }

  [Symbol.iterator](): Iterator<S> {
    return this.items.slice()[Symbol.iterator]();
  }
}
