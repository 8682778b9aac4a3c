import { request } from 'node:http';
import { Redis } from 'ioredis';
import t from 'tap';
import { scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { POSITION } from '../helpers/positions.js';

/** Reads GET /stream line by line: one JSON object per non-empty line. */
async function openStream(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; lines: Record<string, unknown>[]; blank: () => number; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      const lines: Record<string, unknown>[] = [];
      let blank = 0;
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line === '') blank++;
          else lines.push(JSON.parse(line) as Record<string, unknown>);
        }
      });
      resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), lines, blank: () => blank, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('GET /stream: NDJSON envelopes, raw JSON payloads, resume and reset lines, heartbeats', async (t) => {
  const redisUrl = await sharedRedisUrl(t);
  const pub = new Redis(redisUrl);
  t.teardown(() => pub.quit());
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
broker: { type: redis, url: "${redisUrl}" }
channels:
  - { pattern: "${p}:{name}", access: public }
  - { pattern: "${p}j:{name}", access: public, payload: json }
classes:
  default: desktop
  list: [ { name: desktop, lifetime: 300s, pollHold: 30s, heartbeat: 300ms, idle: 120s } ]
log: { level: warn }
`,
  });
  const s = await openStream(`${h.url}/stream?channel=${p}:a&channel=${p}j:b`);
  t.teardown(() => s.close());
  t.equal(s.status, 200);
  t.match(s.type, /^application\/x-ndjson/);
  // The headers arrive with the first write, once every channel is live.
  await pub.publish(`${p}:a`, 'line one\nline two');
  await pub.publish(`${p}j:b`, '{"event":"x","n":1}');
  await waitFor(() => s.lines.length >= 4, { timeoutMs: 5000, what: 'four lines' });
  // First, one subscribed line per channel with the head: where a reconnect resumes if the
  // stream ends before its first message.
  t.match(s.lines[0], { type: 'subscribed', channel: `${p}:a`, position: POSITION });
  t.match(s.lines[1], { type: 'subscribed', channel: `${p}j:b`, position: s.lines[0]!.position });
  s.lines.splice(0, 2);
  t.match(s.lines[0], { type: 'message', channel: `${p}:a`, data: 'line one\nline two' });
  t.match(s.lines[1], { type: 'message', channel: `${p}j:b`, event: 'x', data: { event: 'x', n: 1 } });
  await waitFor(() => s.blank() >= 1, { timeoutMs: 5000, what: 'a heartbeat (empty line)' });

  const last = s.lines[0]!.id as string;
  const resumed = await openStream(`${h.url}/stream?channel=${p}:a&channel=${p}j:b&lastEventId=${encodeURIComponent(last)}`);
  t.teardown(() => resumed.close());
  await waitFor(() => resumed.lines.length >= 3, { timeoutMs: 5000, what: 'replay' });
  t.match(resumed.lines[0], { type: 'message', channel: `${p}j:b`, id: s.lines[1]!.id });
  t.match(resumed.lines.slice(1), [{ type: 'subscribed', channel: `${p}:a` }, { type: 'subscribed', channel: `${p}j:b` }], 'then the head, after the replay');

  const foreign = await openStream(`${h.url}/stream?channel=${p}:a`, { 'last-event-id': 'other:1' });
  t.teardown(() => foreign.close());
  await waitFor(() => foreign.lines.length >= 2, { timeoutMs: 5000, what: 'reset line' });
  t.match(foreign.lines[0], { type: 'reset', channel: `${p}:a`, reason: 'epoch' });
  t.match(foreign.lines[0]!.position, POSITION);
  t.match(foreign.lines[1], { type: 'subscribed', channel: `${p}:a`, position: foreign.lines[0]!.position });

  const text = await scrape(h.url);
  t.match(text, /herald_connections_open\{transport="ndjson",class="desktop"\} 3/);
  t.match(text, /herald_messages_delivered_total\{transport="ndjson"\} [1-9]/);
});
