/**
 * The counts Herald keeps on its hot paths, as plain numbers in fixed-shape records
 * (`this.deliveredBy.ws += n`): prom-client's `counter.labels(...).inc()` hashes and
 * validates a label object on every call, so nothing here touches prom-client. The
 * registry (metrics.ts) copies these numbers into its Counters at scrape time.
 *
 * Labels take values from closed sets only (transports, reasons, configured class names,
 * the error-code catalogue); anything else is counted under `other`. Never a channel name.
 */
import { ErrorCode } from '../errors.js';
import { DROP_REASONS, type DropReason, type HubStats } from '../hub/hub-options.js';
import type { TransportName } from '../hub/subscriber.js';
import { PUBLISH_OUTCOMES, type PublishOutcome } from '../http/publish-outcome.js';
import { CLOSE_REASONS, POLL_OUTCOMES, type CloseReason, type PollOutcome, type TransportStats } from '../transport/stats.js';

export const ALL_TRANSPORTS: readonly TransportName[] = ['sse', 'ndjson', 'ws', 'poll'];
/** Label value for a class or code outside its closed set (a caller bug, but still bounded). */
export const OTHER = 'other';
const ERROR_CODES: readonly string[] = Object.keys(ErrorCode);
/** Auth failures are the catalogue's 401/403 codes, so the set follows errors.ts by itself. */
const AUTH_CODES: readonly string[] = ERROR_CODES.filter((code) => {
  const status = ErrorCode[code as keyof typeof ErrorCode].status;
  return status === 401 || status === 403;
});

type Slots<K extends string> = Record<K, number>;
/** One exported sample: its labels and value. */
export type Row = readonly [Readonly<Record<string, string>>, number];

function slots<K extends string>(keys: readonly K[]): Slots<K> {
  const record = {} as Slots<K>;
  for (const key of keys) record[key] = 0;
  return record;
}

function keyedSlots(keys: readonly string[]): Map<string, { value: number }> {
  return new Map([...keys, OTHER].map((key) => [key, { value: 0 }]));
}

/** Rows of one label over a record; zero rows are kept only for the `always` keys. */
function* rowsOf(label: string, record: Readonly<Record<string, number>>, always: readonly string[]): Iterable<Row> {
  for (const [key, value] of Object.entries(record)) {
    if (value !== 0 || always.includes(key)) yield [{ [label]: key }, value];
  }
}

function* rowsOfMap(label: string, map: ReadonlyMap<string, { value: number }>): Iterable<Row> {
  for (const [key, slot] of map) {
    if (slot.value !== 0 || key !== OTHER) yield [{ [label]: key }, slot.value];
  }
}

/** Every counter Herald keeps, and their rows for export. Implements what the hub and transports count. */
export class MetricCounters implements TransportStats, Omit<HubStats, 'observeLatency'> {
  private received = 0;
  private reconnects = 0;
  private probesMissed = 0;
  private readonly deliveredBy = slots(ALL_TRANSPORTS);
  private readonly slowConsumers = slots(ALL_TRANSPORTS);
  private readonly drops = slots(DROP_REASONS);
  private readonly pollHolds = slots(POLL_OUTCOMES);
  private readonly publishes = slots(PUBLISH_OUTCOMES);
  private readonly closed: Record<TransportName, Slots<CloseReason>>;
  /** class → per-transport opened count; `other` catches unknown class names. */
  private readonly opened: Map<string, Slots<TransportName>>;
  private readonly authFailures = keyedSlots(AUTH_CODES);
  private readonly clientErrors = keyedSlots(ERROR_CODES);

  constructor(
    /** Transports whose series are exported at zero from the start. */
    protected readonly transports: readonly TransportName[],
    classes: readonly string[],
  ) {
    this.closed = { sse: slots(CLOSE_REASONS), ndjson: slots(CLOSE_REASONS), ws: slots(CLOSE_REASONS), poll: slots(CLOSE_REASONS) };
    this.opened = new Map([...classes, OTHER].map((name) => [name, slots(ALL_TRANSPORTS)]));
  }

  connectionOpened(transport: TransportName, clientClass: string): void {
    (this.opened.get(clientClass) ?? (this.opened.get(OTHER) as Slots<TransportName>))[transport]++;
  }

  connectionClosed(transport: TransportName, reason: CloseReason): void {
    this.closed[transport][reason]++;
  }

  messageReceived(): void {
    this.received++;
  }

  /** Once per message per transport with the fan-out size, never once per subscriber. */
  delivered(transport: TransportName, count: number): void {
    this.deliveredBy[transport] += count;
  }

  dropped(reason: DropReason, count = 1): void {
    this.drops[reason] += count;
  }

  brokerReconnect(): void {
    this.reconnects++;
  }

  brokerProbeMissed(): void {
    this.probesMissed++;
  }

  /** `code` is an errors.ts code with status 401/403; anything else counts as `other`. */
  authFailure(code: string): void {
    (this.authFailures.get(code) ?? (this.authFailures.get(OTHER) as { value: number })).value++;
  }

  clientError(code: string): void {
    (this.clientErrors.get(code) ?? (this.clientErrors.get(OTHER) as { value: number })).value++;
    // Refusals decided before any token check are auth failures too (the authorizer and the
    // publish check count their own codes once, where they decide).
    if (code === 'channel_denied' || code === 'origin_denied') this.authFailure(code);
  }

  pollHold(outcome: PollOutcome): void {
    this.pollHolds[outcome]++;
  }

  publishRequest(outcome: PublishOutcome): void {
    this.publishes[outcome]++;
  }

  /** A connection dropped because its unsent bytes passed the bound. */
  slowConsumerDrop(transport: TransportName): void {
    this.slowConsumers[transport]++;
  }

  /**
   * Each exported counter: name, help, label names (one name per meaning across Herald:
   * `transport`, `class`, `reason` for why, `code` for an error code, `outcome` for how a
   * request ended), and its rows at scrape time.
   */
  counterDefinitions(): readonly (readonly [string, string, readonly string[], () => Iterable<Row>])[] {
    const t = this.transports;
    return [
      ['herald_messages_received_total', 'Messages received from the broker.', [], () => [[{}, this.received]]],
      ['herald_messages_delivered_total', 'Messages written to clients, by transport.', ['transport'], () => rowsOf('transport', this.deliveredBy, t)],
      ['herald_messages_dropped_total', 'Messages not delivered, by reason.', ['reason'], () => rowsOf('reason', this.drops, DROP_REASONS)],
      ['herald_connections_opened_total', 'Client connections opened, by transport and client class.', ['transport', 'class'], () => this.openedRows()],
      ['herald_connections_closed_total', 'Client connections closed, by transport and reason.', ['transport', 'reason'], () => this.closedRows()],
      ['herald_slow_consumer_disconnects_total', 'Connections dropped for exceeding the unsent-bytes bound.', ['transport'], () => rowsOf('transport', this.slowConsumers, t)],
      ['herald_broker_reconnects_total', 'Broker subscriber link reconnects.', [], () => [[{}, this.reconnects]]],
      ['herald_broker_probe_missed_total', 'Liveness probes not seen back in time on the broker link.', [], () => [[{}, this.probesMissed]]],
      ['herald_auth_failures_total', 'Authentication and authorisation failures, by error code.', ['code'], () => rowsOfMap('code', this.authFailures)],
      ['herald_client_errors_total', 'Errors sent to clients, by error code.', ['code'], () => rowsOfMap('code', this.clientErrors)],
      ['herald_poll_holds_total', 'Long-polls that were held, by how the hold ended.', ['outcome'], () => rowsOf('outcome', this.pollHolds, POLL_OUTCOMES)],
      ['herald_publish_requests_total', 'POST /publish requests, by outcome.', ['outcome'], () => rowsOf('outcome', this.publishes, PUBLISH_OUTCOMES)],
    ];
  }

  private *openedRows(): Iterable<Row> {
    for (const [cls, byTransport] of this.opened) {
      const always = cls === OTHER ? [] : this.transports;
      for (const [labels, value] of rowsOf('transport', byTransport, always)) yield [{ ...labels, class: cls }, value];
    }
  }

  private *closedRows(): Iterable<Row> {
    for (const transport of ALL_TRANSPORTS) {
      const always = this.transports.includes(transport) ? CLOSE_REASONS : [];
      for (const [labels, value] of rowsOf('reason', this.closed[transport], always)) yield [{ transport, ...labels }, value];
    }
  }
}
