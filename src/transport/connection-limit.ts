/**
 * Open connections per client IP. The map holds only IPs with open connections, so it is
 * bounded by the connection count itself. `max` 0 disables the limit.
 */
export class ConnectionLimiter {
  private readonly open = new Map<string, number>();

  constructor(private max: number) {}

  setMax(max: number): void {
    this.max = max;
  }

  admit(ip: string): boolean {
    const n = this.open.get(ip) ?? 0;
    if (this.max > 0 && n >= this.max) return false;
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
