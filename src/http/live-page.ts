/**
 * GET / when `livePage.enabled`: a page that uses /client.js to watch channels, publish a
 * test message (loopback POST /publish, no key) and force a transport. It is the first
 * minute of Herald (README Quick start) and a living example of docs/client.md.
 * The page's script is plain JS without template literals, so this file can hold it as is.
 */
export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald live</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { display: flex; align-items: center; gap: 12px; padding: 12px 20px; background: #1d2330; color: #fff; }
  header h1 { font-size: 18px; margin: 0; }
  #state { padding: 2px 10px; border-radius: 10px; background: #8a6d1f; font-weight: 600; }
  #state.live { background: #2e7d4f; }
  main { padding: 16px 20px; display: grid; gap: 12px; }
  section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 10px 14px; }
  section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #5a6372; margin: 0 0 8px; }
  input, select, button { font: inherit; padding: 4px 8px; }
  button { cursor: pointer; }
  .chip { display: inline-block; margin: 2px 6px 2px 0; padding: 2px 8px; background: #e8edf5; border-radius: 10px; }
  .chip button { border: 0; background: none; padding: 0 0 0 4px; color: #a33; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; font-variant-numeric: tabular-nums; }
  td.data { font-family: ui-monospace, monospace; word-break: break-all; }
  tr.reset td, tr.error td { color: #a33; }
  .hint { color: #5a6372; }
</style></head>
<body>
<header><h1>Herald live</h1><span id="state">connecting</span><span class="hint" id="origin"></span></header>
<main>
  <section><h2>Channels</h2>
    <form id="sub-form"><input id="channel" value="public:demo" size="28" aria-label="channel">
      <button id="subscribe">Subscribe</button>
      <label>transport <select id="transport">
        <option value="">auto (ws → stream → poll)</option><option value="ws">ws</option>
        <option value="stream">stream</option><option value="poll">poll</option></select></label>
    </form>
    <div id="channels"></div>
  </section>
  <section><h2>Publish a test message</h2>
    <form id="pub-form"><input id="pub-channel" value="public:demo" size="28" aria-label="publish channel">
      <input id="text" value="hello from the live page" size="40" aria-label="message">
      <button id="publish">Publish</button>
      <label><input type="checkbox" id="ticker"> every 2 s</label>
      <span class="hint" id="pub-result"></span>
    </form>
    <p class="hint">Or from a terminal: <code id="curl">curl -s localhost:8080/publish -d '{"channel":"public:demo","data":"hi"}'</code>
      — with Redis: <code>redis-cli PUBLISH public:demo hi</code></p>
  </section>
  <section><h2>Messages</h2>
    <table><thead><tr><th>time</th><th>channel</th><th>transport</th><th>id</th><th>latency</th><th>data</th></tr></thead>
    <tbody id="messages"></tbody></table>
  </section>
</main>
<script type="module">
import { herald } from '/client.js';
const $ = (id) => document.getElementById(id);
const channels = new Map();
let h = null;
$('origin').textContent = location.host;
$('curl').textContent = $('curl').textContent.replace('localhost:8080', location.host);

function row(cls, channel, id, latency, data) {
  const tr = document.createElement('tr');
  tr.className = cls;
  tr.dataset.channel = channel;
  tr.dataset.transport = h ? h.transport : '';
  const cells = [new Date().toLocaleTimeString(), channel, tr.dataset.transport, id, latency, data];
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.appendChild(td);
  }
  tr.lastChild.className = 'data';
  $('messages').prepend(tr);
  while ($('messages').children.length > 200) $('messages').lastChild.remove();
}

function onMessage(m) {
  const text = typeof m.data === 'string' ? m.data : JSON.stringify(m.data);
  let latency = '';
  try {
    const sentAt = JSON.parse(text).sentAt;
    if (typeof sentAt === 'number') latency = Math.max(0, Date.now() - sentAt) + ' ms';
  } catch (err) { /* not one of this page's messages: no latency to show */ }
  row('message', m.channel, m.id, latency, text);
}

function subscribe(channel) {
  const sub = h.subscribe(channel, {
    onMessage,
    onReset: (c, reason) => row('reset', c, '', '', 'reset (' + reason + '): refetch state'),
    onError: (code, message) => { row('error', channel, '', '', code + ': ' + message); drop(channel); },
  });
  channels.set(channel, sub);
  render();
}

function drop(channel) {
  const sub = channels.get(channel);
  if (sub) sub.unsubscribe();
  channels.delete(channel);
  render();
}

function render() {
  const box = $('channels');
  box.textContent = '';
  for (const channel of channels.keys()) {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.textContent = channel;
    const x = document.createElement('button');
    x.textContent = '×';
    x.title = 'unsubscribe';
    x.onclick = () => drop(channel);
    chip.appendChild(x);
    box.appendChild(chip);
  }
}

function start() {
  const forced = $('transport').value;
  const names = [...channels.keys()];
  if (h) h.close();
  channels.clear();
  h = herald(location.origin, forced ? { transports: [forced] } : {});
  h.on('state', (e) => {
    $('state').textContent = e.state + ' · ' + e.transport;
    $('state').className = e.state;
  });
  for (const c of names) subscribe(c);
}

async function publish() {
  const body = { channel: $('pub-channel').value, data: JSON.stringify({ text: $('text').value, sentAt: Date.now() }) };
  const res = await fetch('/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await res.json();
  $('pub-result').textContent = res.ok ? 'published to ' + answer.receivers + ' receiver(s)' : answer.error.code + ': ' + answer.error.message;
}

$('sub-form').onsubmit = (e) => { e.preventDefault(); const c = $('channel').value.trim(); if (c && !channels.has(c)) subscribe(c); };
$('pub-form').onsubmit = (e) => { e.preventDefault(); publish(); };
$('transport').onchange = start;
let ticker = null;
$('ticker').onchange = () => { clearInterval(ticker); ticker = $('ticker').checked ? setInterval(publish, 2000) : null; };
start();
subscribe($('channel').value);
window.heraldPage = { get client() { return h; } };
</script>
</body></html>
`;
