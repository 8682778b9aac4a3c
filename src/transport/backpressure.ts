/**
 * Per-connection unsent-byte accounting for uWS HTTP responses. Pure.
 *
 * uWS `res.write()` returns false when the kernel did not take the whole chunk; uWS keeps the
 * rest, and appends every later write to that buffer (and keeps returning false) until the
 * buffer drains. So while writes fail we add their sizes: an upper bound of what uWS holds
 * for this connection. The first successful write means the buffer drained: back to 0.
 * Past `limit` the caller must drop the connection; memory per connection stays bounded by
 * limit + one flush.
 */
export class UnsentBytes {
  private unsent = 0;

  constructor(private readonly limit: number) {}

  /** Records the outcome of one write of `bytes`; returns true when the bound is passed. */
  record(bytes: number, accepted: boolean): boolean {
    if (accepted) {
      this.unsent = 0;
      return false;
    }
    this.unsent += bytes;
    return this.unsent > this.limit;
  }

  get bytes(): number {
    return this.unsent;
  }
}
