import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { decodeWsFrame, isWsFrameProblem } from '../../src/encode/ws.js';
import { encodeSseComment, encodeSseEvent, encodeSseRetry, isSafeEventName } from '../../src/encode/sse.js';
import { formatMessageId, parsePosition } from '../../src/hub/position.js';

// Property tests (issue 12). Run counts are modest: the suite shares two cores.

/** Feeds `text` to a spec EventSource parser (the one the `eventsource` client uses) in chunks. */
function parseStream(text: string, cuts: readonly number[]): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const end = Math.min(text.length, cut);
    if (end <= at) continue;
    parser.feed(text.slice(at, end));
    at = end;
  }
  parser.feed(text.slice(at));
  return events;
}

/** What a browser receives for a payload: the format cannot carry CR, so CRLF and CR become LF. */
const asReceived = (payload: string): string => payload.replace(/\r\n|\r/g, '\n');

const payload = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  // Any bytes from Redis, decoded as Herald decodes them.
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('utf8')),
  fc.array(fc.constantFrom('\n', '\r', '\r\n', 'data: x', ':', 'id: 9', 'event: e', ' ', ''), { maxLength: 20 }).map((a) => a.join('')),
);
const eventName = fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/));
const id = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9_-]{8}$/), fc.nat({ max: 36 ** 9 - 1 }), fc.stringMatching(/^[a-z0-9]{4}$/), fc.nat())
  .map(([fp, ds, tag, seq]) => formatMessageId(fp, ds, tag, seq));

t.test('SSE framing: any payload round-trips through a spec EventSource parser', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ id, event: eventName, payload }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat({ max: 4000 }), { maxLength: 10 }),
      (messages, cuts) => {
        let stream = encodeSseRetry(2000);
        for (const [i, m] of messages.entries()) {
          stream += encodeSseEvent(m.id, m.event, m.payload);
          if (i % 3 === 1) stream += encodeSseComment('heartbeat\r\nwith a break');
        }
        const received = parseStream(stream, cuts);
        // An empty payload is still one `data:` line, so it arrives as an event with data ''.
        const expected = messages;
        if (received.length !== expected.length) return false;
        return expected.every((m, i) => {
          const e = received[i]!;
          return e.data === asReceived(m.payload) && e.id === m.id && (e.event ?? '') === m.event;
        });
      },
    ),
    { numRuns: 1500 },
  );
  t.pass('1500 runs');
});

t.test('SSE event names from payloads are forwarded only when they cannot break framing', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (name) => {
      if (!isSafeEventName(name)) return true;
      const events = parseStream(encodeSseEvent('e:1', name, 'x'), []);
      return events.length === 1 && events[0]!.event === name && events[0]!.data === 'x';
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

const frameValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  fc
    .record({
      type: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'ping', '__proto__', 'constructor', ''), fc.anything()),
      channel: fc.oneof(fc.string(), fc.anything()),
      since: fc.oneof(fc.string(), fc.anything()),
      token: fc.oneof(fc.string(), fc.anything()),
      id: fc.oneof(fc.string(), fc.anything()),
    }, { requiredKeys: [] })
    .map((o) => JSON.stringify(o) ?? 'null'),
);

t.test('the WebSocket frame decoder never throws, and answers a frame or a documented problem', async (t) => {
  fc.assert(
    fc.property(frameValue, (text) => {
      const out = decodeWsFrame(text);
      if (isWsFrameProblem(out)) return out.code === 'frame_invalid' || out.code === 'frame_unknown_type';
      return ['subscribe', 'unsubscribe', 'ping'].includes(out.type);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

t.test('the position / cursor codec never throws and round-trips every valid position', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
      const p = parsePosition(text);
      // A parsed id, formatted again, parses to the same position (formatting drops leading zeros).
      if (p.kind !== 'message' || p.seq === null) return true;
      const again = parsePosition(formatMessageId(p.fp, p.ds, p.tag, p.seq));
      return again.kind === 'message' && again.fp === p.fp && again.ds === p.ds && again.tag === p.tag && again.seq === p.seq;
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{8}$/), fc.integer({ min: 0, max: 36 ** 9 - 1 }), fc.stringMatching(/^[a-z0-9]{4}$/), fc.integer({ min: 0, max: 36 ** 10 - 1 }), (fp, ds, tag, seq) => {
      const p = parsePosition(formatMessageId(fp, ds, tag, seq));
      return p.kind === 'message' && p.fp === fp && p.ds === ds && p.tag === tag && p.seq === seq;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

const EXAMPLE = readFileSync(new URL('../../config/herald.example.yaml', import.meta.url), 'utf8');
const EXAMPLE_ENV = { HERALD_PUBLISH_KEY: 'example-publish-key', HERALD_JWT_SECRET: 'example-jwt-secret-of-32-bytes-or-more' };
const JUNK = ['', ' ', '  ', ':', ': ', '- ', '{', '}', '[', ']', '"', "'", '&a ', '*a', '*nope', '!!str ', '|', '>', '#', '\t', '\n', '${', '${NOPE}', '0', '-1', '1e999', 'null', '~', 'true', 'yes', '5x', '64kb', 'ß', '\u0000', '---\n', '? ', '<<: *a'];

/** One edit to the YAML text: insert, delete, or replace a span; or duplicate, drop or re-indent a line. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...JUNK), fc.string({ maxLength: 6 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('line' as const), at: fc.nat(), op: fc.constantFrom('duplicate', 'drop', 'indent', 'dedent') }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(text: string, m: Mutation): string {
  if (m.kind === 'insert') {
    const at = m.at % (text.length + 1);
    return text.slice(0, at) + m.text + text.slice(at);
  }
  if (m.kind === 'delete') {
    const at = m.at % Math.max(1, text.length);
    return text.slice(0, at) + text.slice(at + m.length);
  }
  const lines = text.split('\n');
  const i = m.at % lines.length;
  if (m.op === 'duplicate') lines.splice(i, 0, lines[i]!);
  else if (m.op === 'drop') lines.splice(i, 1);
  else if (m.op === 'indent') lines[i] = '  ' + lines[i]!;
  else lines[i] = lines[i]!.replace(/^ {1,2}/, '');
  return lines.join('\n');
}

t.test('config mutations give a valid config or errors that each have a location', async (t) => {
  const file = join(t.testdir(), 'herald.yaml');
  let valid = 0;
  let invalid = 0;
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
      const text = mutations.reduce(mutate, EXAMPLE);
      writeFileSync(file, text);
      const { config, issues } = loadConfig({ file, env: EXAMPLE_ENV, overrides: {} });
      const errors = issues.filter((i) => i.severity === 'error');
      if (config !== null) {
        valid++;
        return errors.length === 0;
      }
      invalid++;
      return errors.length > 0 && errors.every((i) => i.file === file && i.line >= 1 && i.col >= 1 && i.message.length > 0);
    }),
    { numRuns: 400 },
  );
  t.ok(valid > 0 && invalid > 0, `both outcomes occurred (${valid} valid, ${invalid} invalid)`);
});
