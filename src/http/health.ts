import type { HttpResponse } from 'uWebSockets.js';
import type { BrokerStatus } from '../hub/ports.js';
import { writeJson } from './server.js';

export interface ReadinessSource {
  brokerStatus(): BrokerStatus;
  isDraining(): boolean;
  /** Per shard master of a Redis Cluster (empty for a single-link broker). */
  brokerShards?(): ReadonlyArray<{ readonly node: string; readonly status: BrokerStatus; readonly slots: number }>;
}

/** GET /healthz: the process answers. */
export function healthz(res: HttpResponse): void {
  writeJson(res, 200, '{"status":"ok"}');
}

/** GET /readyz: 200 only while the broker link (every shard's, in a cluster) is ready and the process is not draining. */
export function readyz(source: ReadinessSource): (res: HttpResponse) => void {
  return (res) => {
    const broker = source.brokerStatus();
    const draining = source.isDraining();
    const ready = broker === 'ready' && !draining;
    const shards = source.brokerShards?.() ?? [];
    const body = { status: ready ? 'ready' : 'not_ready', broker, draining, ...(shards.length > 0 && { shards }) };
    writeJson(res, ready ? 200 : 503, JSON.stringify(body));
  };
}
