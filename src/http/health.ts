import type { HttpResponse } from 'uWebSockets.js';
import type { BrokerStatus } from '../hub/ports.js';
import { writeJson } from './server.js';

export interface ReadinessSource {
  brokerStatus(): BrokerStatus;
  isDraining(): boolean;
}

/** GET /healthz: the process answers. */
export function healthz(res: HttpResponse): void {
  writeJson(res, 200, '{"status":"ok"}');
}

/** GET /readyz: 200 only while the broker link is ready and the process is not draining. */
export function readyz(source: ReadinessSource): (res: HttpResponse) => void {
  return (res) => {
    const broker = source.brokerStatus();
    const draining = source.isDraining();
    const ready = broker === 'ready' && !draining;
    writeJson(res, ready ? 200 : 503, JSON.stringify({ status: ready ? 'ready' : 'not_ready', broker, draining }));
  };
}
