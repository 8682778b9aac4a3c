import type { PreparedMessage } from './message.js';
import type { Listed, ResetReason, Subscriber } from './subscriber.js';

/**
 * A channel's live subscribers: an array in which every subscriber knows its own index, so
 * add is a push and delete a swap with the last, with no hashing. A Set here cost every
 * long-poll cycle its add and its delete, and where a channel's few pollers are all answered
 * by one message the set emptied and refilled on every message: V8 shrank its table on the
 * way down and grew it on the way up (Runtime_SetShrink, Runtime_SetGrow), about 0.4 µs a
 * cycle in the many-channels poll profile; with 15,000 pollers on one channel each lookup
 * missed the cache (bench/issue-15.md, seventh pass).
 *
 * A subscriber on one channel (nearly all) keeps its slot in two fields; one on several keeps
 * the others in a short list it scans. Fan-outs may end subscribers as they go (a WebSocket
 * publish can close a socket whose group then leaves): while one runs, a delete leaves a hole
 * instead of moving the last member, and the holes are closed when it ends, so no member is
 * skipped or visited twice.
 */
export class SubscriberList {
  readonly #items: Array<Subscriber | null> = [];
  #size = 0;
  #iterating = 0;
  #holes = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds `sub` unless it is here already. */
  add(sub: Subscriber): void {
    if (slotIn(sub, this) !== -1) return;
    const slot = this.#items.length;
    if (sub.listedIn === null) {
      sub.listedIn = this;
      sub.listedSlot = slot;
    } else (sub.listedElsewhere ??= []).push({ list: this, slot });
    this.#items.push(sub);
    this.#size++;
  }

  /** False when `sub` was not here. */
  delete(sub: Subscriber): boolean {
    const slot = slotIn(sub, this);
    if (slot === -1) return false;
    unlist(sub, this);
    this.#size--;
    const items = this.#items;
    if (this.#iterating > 0) {
      items[slot] = null;
      this.#holes++;
      return true;
    }
    const last = items.pop()!;
    if (last !== sub) {
      items[slot] = last;
      setSlot(last, this, slot);
    }
    return true;
  }

  deliverAll(message: PreparedMessage): void {
    const items = this.#items;
    this.#iterating++;
    try {
      for (let i = 0; i < items.length; i++) items[i]?.deliver(message);
    } finally {
      this.#endIteration();
    }
  }

  resetAll(channel: string, reason: ResetReason, position: string): void {
    const items = this.#items;
    this.#iterating++;
    try {
      for (let i = 0; i < items.length; i++) items[i]?.reset(channel, reason, position);
    } finally {
      this.#endIteration();
    }
  }

  #endIteration(): void {
    if (--this.#iterating !== 0 || this.#holes === 0) return;
    const items = this.#items;
    let kept = 0;
    for (let i = 0; i < items.length; i++) {
      const sub = items[i];
      if (sub === null || sub === undefined) continue;
      if (i !== kept) {
        items[kept] = sub;
        setSlot(sub, this, kept);
      }
      kept++;
    }
    items.length = kept;
    this.#holes = 0;
  }
}

function slotIn(sub: Listed, list: SubscriberList): number {
  if (sub.listedIn === list) return sub.listedSlot;
  const more = sub.listedElsewhere;
  if (more === null) return -1;
  for (let i = 0; i < more.length; i++) if (more[i]!.list === list) return more[i]!.slot;
  return -1;
}

function setSlot(sub: Listed, list: SubscriberList, slot: number): void {
  if (sub.listedIn === list) {
    sub.listedSlot = slot;
    return;
  }
  const more = sub.listedElsewhere!;
  for (let i = 0; i < more.length; i++) {
    if (more[i]!.list === list) {
      more[i]!.slot = slot;
      return;
    }
  }
}

function unlist(sub: Listed, list: SubscriberList): void {
  const more = sub.listedElsewhere;
  if (sub.listedIn === list) {
    const next = more === null ? undefined : more.pop();
    sub.listedIn = next === undefined ? null : next.list;
    sub.listedSlot = next === undefined ? -1 : next.slot;
    if (more !== null && more.length === 0) sub.listedElsewhere = null;
    return;
  }
  const i = more!.findIndex((m) => m.list === list);
  more![i] = more![more!.length - 1]!;
  more!.pop();
  if (more!.length === 0) sub.listedElsewhere = null;
}
