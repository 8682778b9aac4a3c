/** Open connections per client class, read by the metrics gauge at scrape time. */
export class ClassCounts {
  private readonly counts = new Map<string, number>();

  add(clientClass: string): void {
    this.counts.set(clientClass, (this.counts.get(clientClass) ?? 0) + 1);
  }

  remove(clientClass: string): void {
    const n = (this.counts.get(clientClass) ?? 1) - 1;
    if (n <= 0) this.counts.delete(clientClass);
    else this.counts.set(clientClass, n);
  }

  get byClass(): ReadonlyMap<string, number> {
    return this.counts;
  }
}
