import { AggregatorRegistry } from 'prom-client';

/**
 * Exposition text of several workers' registry snapshots (HeraldMetrics.snapshot()):
 * counters and histograms summed, gauges per their aggregator (sum, or min for the broker
 * link: 1 only if every worker's link is up). Used by the supervisor.
 */
export async function mergeSnapshots(snapshots: readonly unknown[]): Promise<string> {
  for (const snapshot of snapshots) {
    if (!Array.isArray(snapshot)) throw new TypeError('mergeSnapshots expects results of HeraldMetrics.snapshot()');
  }
  return AggregatorRegistry.aggregate(snapshots as object[]).metrics();
}
