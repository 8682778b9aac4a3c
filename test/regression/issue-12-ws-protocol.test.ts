import t from 'tap';
import { WsClient } from '../helpers/clients.js';
import { scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { rawWs, wsFrame } from '../helpers/raw-ws.js';

// Issue 12: WebSocket protocol violations. What Herald decides it answers with a close frame
// (1008) or an error frame; what uWebSockets.js refuses itself (frames over its hard limit,
// invalid UTF-8, stray continuations, reserved bits, unknown opcodes) it cuts with no close
// frame, which a client sees as 1006. The README's close-code table says exactly this.

const TEXT = 0x1;
const CONTINUATION = 0x0;
const CLOSE = 0x8;

t.test('WebSocket protocol violations end as documented', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, {
    config: `
channels:
  - { pattern: "${p}:{name}", access: public }
limits: { maxFrameBytes: 1kb, maxBadFrames: 2 }
log: { level: warn }
`,
  });
  const good = await WsClient.open(`${h.wsUrl}/ws`);
  t.teardown(() => good.close());
  await good.request({ type: 'subscribe', channel: `${p}:a` }, 'subscribed');
  const policyCloses = async (): Promise<number> => {
    const text = await scrape(h.url);
    return text.split('\n').filter((l) => l.startsWith('herald_connections_closed_total{') && l.includes('"ws"') && l.includes('"policy"'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };
  const policyBefore = await policyCloses();

  const overSoft = await rawWs(h.port, [wsFrame(TEXT, 'a'.repeat(2048))], 800);
  t.match(JSON.parse(overSoft.texts[0] ?? '{}'), { type: 'error', code: 'frame_too_large' }, 'over maxFrameBytes: an error frame');
  t.equal(overSoft.end, 'timeout', 'and the socket stays open');

  const cases: [string, Buffer[]][] = [
    ['a frame over max(1 MiB, 4 × maxFrameBytes)', [wsFrame(TEXT, 'a'.repeat(1024 * 1024 + 1))]],
    ['invalid UTF-8 in a text frame', [wsFrame(TEXT, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))]],
    ['a stray continuation frame', [wsFrame(CONTINUATION, 'abc')]],
    ['reserved bits set (no extension negotiated)', [wsFrame(TEXT, '{"type":"ping"}', { rsv: 4 })]],
    ['an unknown opcode', [wsFrame(0x3, 'abc')]],
    ['a fragmented control frame', [wsFrame(0x9, 'abc', { fin: false })]],
  ];
  for (const [what, frames] of cases) {
    const r = await rawWs(h.port, frames);
    t.equal(r.end, 'closed', `${what}: the connection is cut`);
    t.equal(r.closeCode, null, `${what}: with no close frame (the client sees 1006)`);
  }

  // uWS 20.30 does not check the mask bit: it takes the first 4 payload bytes as the mask key
  // and misreads the frame. Herald never sees it; the socket ends at the idle timeout (4000).
  const unmasked = await rawWs(h.port, [wsFrame(TEXT, '{"type":"ping","id":"u"}', { mask: false })], 800);
  t.same(unmasked.texts, [], 'an unmasked frame is never taken as a frame (no pong)');

  const bad = await rawWs(h.port, [wsFrame(TEXT, 'x'), wsFrame(TEXT, 'y'), wsFrame(TEXT, 'z')]);
  t.equal(bad.closeCode, 1008, 'more than maxBadFrames malformed frames: close frame 1008');
  t.equal(bad.texts.filter((x) => x.includes('frame_invalid')).length, 3, 'each bad frame got its error first');

  const polite = await rawWs(h.port, [wsFrame(CLOSE, Buffer.from([0x03, 0xe8]))]);
  t.equal(polite.closeCode, 1000, 'a client close 1000 is echoed');

  t.equal((await good.request({ type: 'ping' }, 'pong')).type, 'pong', 'the well-behaved socket is untouched');
  const policyAfter = await policyCloses();
  t.ok(policyAfter - policyBefore >= 3, 'oversize, invalid UTF-8 and 1008 are counted as policy closes');
  t.equal(h.child.exitCode, null);
  t.notMatch(h.logs(), /"level":"error"/);
});
