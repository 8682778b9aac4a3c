/**
 * Open connections per client IP. The map holds only IPs with open connections, so it is
 * bounded by the connection count itself. `max` 0 disables the limit and the counting: a
 * limit that a reload turns on counts the connections opened from then on.
 */
export class ConnectionLimiter {
  private readonly open = new Map<string, number>();

  constructor(private max: number) {}

  setMax(max: number): void {
    this.max = max;
  }

  /** Whether admit() needs the client's address (the transports skip reading it otherwise). */
  get counting(): boolean {
    return this.max > 0;
  }

  admit(ip: string): boolean {
    if (this.max === 0) return true;
    const n = this.open.get(ip) ?? 0;
    if (n >= this.max) return false;
    this.open.set(ip, n + 1);
    return true;
  }

  release(ip: string): void {
    const n = this.open.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.open.delete(ip);
    else this.open.set(ip, n - 1);
  }
}
