/**
 * Per-connection unsent-byte accounting for uWS HTTP responses. Pure.
 *
 * uWS `res.write()` returns false when the kernel did not take the whole chunk; uWS keeps the
 * rest, and appends every later write to that buffer (and keeps returning false) until the
 * buffer drains. So while writes fail we add their sizes: an upper bound of what uWS holds
 * for this connection. The first successful write means the buffer drained: back to 0.
 * Past `limit` the caller must drop the connection; memory per connection stays bounded by
 * limit + one flush.
 *
 * A function over a number rather than an object per connection: an idle stream should
 * cost bytes, and this state is one small integer.
 */
export function unsentAfterWrite(unsent: number, bytes: number, accepted: boolean): number {
  return accepted ? 0 : unsent + bytes;
}
