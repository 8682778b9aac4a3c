/**
 * Stream positions.
 *
 *   wire id / cursor:   "<epoch>:<seq>"      e.g. "lx3k9a7f2q:1042"
 *                         │        └─ decimal, per process, strictly increasing across ALL
 *                         │           channels (so one Last-Event-ID covers a multi-channel stream)
 *                         └─ [a-z0-9]+, new for every process start
 *
 * Invariants:
 * - seq values have holes: the hub takes a fresh seq when a channel's broker coverage
 *   (re)starts, so no position issued before that instant can equal or pass it.
 * - A position from another epoch can never be replayed here: the answer is a reset.
 * Pure: no clock, no I/O.
 */

export interface Position {
  readonly epoch: string;
  readonly seq: number;
}

const EPOCH_RE = /^[a-z0-9]{1,32}$/;

export function formatPosition(epoch: string, seq: number): string {
  return `${epoch}:${seq}`;
}

/** Parses a client-supplied id; null when it is not a well-formed position. */
export function parsePosition(text: string): Position | null {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon !== text.lastIndexOf(':')) return null;
  const epoch = text.slice(0, colon);
  const digits = text.slice(colon + 1);
  if (!EPOCH_RE.test(epoch) || !/^\d{1,15}$/.test(digits)) return null;
  return { epoch, seq: Number(digits) };
}

/** A new epoch: time-based prefix plus randomness, so two processes never share one. */
export function newEpoch(nowMs: number, random: () => number): string {
  const rand = Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0');
  return nowMs.toString(36) + rand;
}
