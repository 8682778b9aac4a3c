import type { HistoryConfig } from '../config/types.js';
import type { PreparedMessage } from './message.js';
import type { History, Replay } from './ports.js';
import { WINDOW } from './fingerprint.js';
import { TOLERANCE_DS, type Position } from './position.js';
import type { ResetReason } from './subscriber.js';

/**
 * Where a client position is in THIS process's history, for one channel.
 *
 *   position ──┬─ head or message, our tag ────► seq cut (exact: our own sequence)
 *              ├─ message ─► index.locate(fp) ─► one match, vouched ─► seq cut at the match
 *              │                                 (then every channel of the stream cuts there:
 *              │                                 one Redis delivers all channels in one order)
 *              └─ otherwise (foreign head, no match, ambiguous) ─► time cut
 *                   every message received > t + tolerance is after the position, every one
 *                   < t − tolerance before it; one in between is a reset, never a guess.
 *
 * Why a single match is the right occurrence ("vouched"): let the client's message m have been
 * received here at r(m), with |r(m) − t| ≤ tolerance (the assumption: clock skew plus receive
 * lag between processes stays within TOLERANCE_DS). If this channel was covered and nothing was
 * evicted since before t − tolerance, m is kept here; unless m is one of the first WINDOW−1
 * messages of our coverage (checked exactly by mayBeShortTwin), it is in the index under the
 * same fingerprint the issuer computed; so any OTHER message with that fp would make two
 * entries, and the lookup says `ambiguous`. A single entry is therefore m. For our own ids the
 * same argument holds with tolerance 0 and without the window condition (we computed the fp); ids
 * carrying our seq never get here (exact seq cut above).
 */
export interface ResumeContext {
  readonly history: History;
  readonly tag: string;
  /** The newest seq issued: a head of ours beyond it is from the future. */
  readonly seq: number;
  readonly nowMs: number;
  readonly nowDs: number;
  readonly max: number;
}

export type Resolution =
  | { readonly ok: true; readonly messages: readonly PreparedMessage[] }
  | { readonly ok: false; readonly reason: ResetReason };

export function resolveResume(c: ResumeContext, key: string, limits: HistoryConfig, since: Position): Resolution {
  switch (since.kind) {
    case 'invalid':
      return reset('invalid');
    case 'legacy':
      return reset('epoch');
    case 'head':
      return since.tag === c.tag ? ownSeqCut(c, key, limits, since.seq) : timeCut(c, key, limits, since.ds);
    case 'message': {
      if (since.ds > c.nowDs + TOLERANCE_DS) return reset('invalid');
      // Our own id names our own seq: exact even where the fingerprint is ambiguous (a channel
      // repeating one payload, or a short cycle of payloads).
      if (since.tag === c.tag && since.seq !== null) return ownSeqCut(c, key, limits, since.seq);
      const cut = locate(c, since.fp, since.ds, since.tag === c.tag);
      if (cut !== null) return wire(c.history.replay(key, cut, limits, c.nowMs, c.max));
      if (since.tag === c.tag) return reset(ownMiss(c, key, since.ds));
      return timeCut(c, key, limits, since.ds);
    }
    case 'stream': {
      // A durable message's id is exact everywhere: kept here, it cuts every channel at once;
      // otherwise Redis's clock stands in for the receive time (same tolerance).
      const found = c.history.locate(since.text);
      if (found !== null && found !== 'ambiguous') return wire(c.history.replay(key, found.message.seq, limits, c.nowMs, c.max));
      return timeCut(c, key, limits, Math.floor(since.ms / 100));
    }
  }
}

/** This process's seq of the message the client holds, or null when it cannot be vouched for. */
function locate(c: ResumeContext, fp: string, ds: number, isOwn: boolean): number | null {
  const found = c.history.locate(fp);
  if (found === null || found === 'ambiguous') return null;
  const cov = c.history.coverage(found.key);
  if (cov === null) return null;
  const m = found.message;
  if (isOwn) {
    // Our own fp: only an evicted twin (or one from an earlier coverage) could be the real one.
    if (m.ds !== ds || cov.evictedDs >= ds || cov.coveredFromDs > ds) return null;
    return m.seq;
  }
  const floor = ds - TOLERANCE_DS;
  // No check of m.ds against ds: the argument above does not need it, and a busy process
  // receiving late would only turn exact matches into resets.
  if (m.windowLength !== WINDOW) return null;
  if (cov.coveredFromDs >= floor || cov.evictedDs >= floor || c.history.mayBeShortTwin(found.key, m)) return null;
  return m.seq;
}

/** A position of ours carries our own seq: everything after it, exactly (a future seq is invalid). */
function ownSeqCut(c: ResumeContext, key: string, limits: HistoryConfig, seq: number): Resolution {
  return seq > c.seq ? reset('invalid') : wire(c.history.replay(key, seq, limits, c.nowMs, c.max));
}

function timeCut(c: ResumeContext, key: string, limits: HistoryConfig, ds: number): Resolution {
  if (ds > c.nowDs + TOLERANCE_DS) return reset('invalid');
  return wire(c.history.replayAfterTime(key, ds, TOLERANCE_DS, limits, c.nowMs, c.max));
}

/** Our own message id no longer in the index: it left by a bound, or coverage restarted. */
function ownMiss(c: ResumeContext, key: string, ds: number): ResetReason {
  const cov = c.history.coverage(key);
  return cov !== null && cov.evictedDs >= ds && cov.coveredFromDs <= ds ? 'evicted' : 'not_covered';
}

function wire(r: Replay): Resolution {
  if (r.ok) return r;
  // Ambiguity is "this process cannot locate the position": the reset every client knows.
  return reset(r.reason === 'ambiguous' ? 'not_covered' : r.reason);
}

function reset(reason: ResetReason): Resolution {
  return { ok: false, reason };
}
