import type { SubGroup } from './ws-conn.js';

/** How long a topic group with no socket stays subscribed to the hub before it is released. */
export const GROUP_LINGER_MS = 1000;

/**
 * The topic groups by topic, and the release of those no socket uses any more.
 *
 * A group whose last socket left is not released at once: it stays a hub subscriber, with
 * no socket on its topic, for GROUP_LINGER_MS (released by the first sweep after that), so
 * a socket that comes back to the channel meanwhile (a reconnect, a page reload, a client
 * churning over a few channels) joins it as it joins any live group, without a new group,
 * hub subscription and end-of-turn release per connection (the churn WS profile,
 * bench/issue-15.md). The broker subscription's own linger starts when the group is released,
 * so a channel stays covered at most one sweep period longer than `broker.linger` says.
 * The sweep also keeps a release out of the hub's fan-out, which must not be re-entered
 * (a fan-out can close a socket and so leave its group unused).
 */
export class TopicGroups<G extends SubGroup> {
  private readonly byTopic = new Map<string, G>();
  /** Groups found unused since the last sweep (a group is listed once: `unusedSinceMs` ≥ 0). */
  private unused: SubGroup[] = [];

  constructor(
    private readonly now: () => number,
    /** Gives the group back to the hub (it is out of the map already). */
    private readonly release: (group: SubGroup) => void,
  ) {}

  get size(): number {
    return this.byTopic.size;
  }

  get(topic: string): G | undefined {
    return this.byTopic.get(topic);
  }

  add(group: G): void {
    this.byTopic.set(group.topic, group);
  }

  /** After a socket left (or stopped waiting on) `group`: the linger starts if nothing uses it now. */
  left(group: SubGroup): void {
    if (!isUnused(group)) return;
    if (group.unusedSinceMs < 0) this.unused.push(group);
    group.unusedSinceMs = this.now();
  }

  /** Releases the groups unused for GROUP_LINGER_MS. */
  sweep(): void {
    if (this.unused.length === 0) return;
    const now = this.now();
    const listed = this.unused;
    this.unused = [];
    for (const group of listed) {
      if (!isUnused(group) || this.byTopic.get(group.topic) !== group) {
        group.unusedSinceMs = -1;
      } else if (now - group.unusedSinceMs >= GROUP_LINGER_MS) {
        group.unusedSinceMs = -1;
        this.byTopic.delete(group.topic);
        this.release(group);
      } else {
        this.unused.push(group);
      }
    }
  }
}

function isUnused(group: SubGroup): boolean {
  return group.members.size === 0 && group.pending.length === 0 && group.resuming === 0;
}
