/** The header `FCALL herald_publish` puts before a durable payload (history/redis-functions.ts). */
const NOTIFICATION_PREFIX_BYTES = Buffer.from('\x1eherald1 ', 'latin1');

/** A durable message as `FCALL herald_publish` announces it on the channel. */
export interface Notification {
  readonly epoch: string;
  /** The Redis Stream id "<ms>-<n>". */
  readonly id: string;
  readonly body: Buffer;
}

/**
 * "\x1eherald1 <epoch> <stream id>\n<payload>" (history/redis-functions.ts), or null for a
 * plain PUBLISH. The record separator byte makes a collision with a real payload unlikely;
 * only apps with Redis access can publish at all, so a forged header is not a security matter.
 */
export function parseNotification(payload: Buffer): Notification | null {
  if (payload.length < NOTIFICATION_PREFIX_BYTES.length || !payload.subarray(0, NOTIFICATION_PREFIX_BYTES.length).equals(NOTIFICATION_PREFIX_BYTES)) return null;
  const space = payload.indexOf(0x20, NOTIFICATION_PREFIX_BYTES.length);
  const newline = payload.indexOf(0x0a, space + 1);
  if (space < 0 || newline < 0) return null;
  const epoch = payload.toString('latin1', NOTIFICATION_PREFIX_BYTES.length, space);
  const id = payload.toString('latin1', space + 1, newline);
  if (!/^[0-9a-f]{6}$/.test(epoch) || !/^\d{1,15}-\d{1,15}$/.test(id)) return null;
  return { epoch, id, body: payload.subarray(newline + 1) };
}

/** The stream id part of a durable message id ("<ms>-<n>:<epoch>:<ck>"). */
export function streamIdOf(messageId: string): string {
  return messageId.slice(0, messageId.indexOf(':'));
}

/**
 * Replayed entries this process never received get seqs below every real one (negative),
 * ordered by Redis time, so transports that sort a multi-channel replay by seq keep them first.
 */
export function replaySeq(streamId: string): number {
  const dash = streamId.indexOf('-');
  return Number(streamId.slice(0, dash)) - 4e12 + Number(streamId.slice(dash + 1)) / 1e6;
}
