// Issue 9: a held poll ended by a reload that denies its channel was counted as outcome `message`.
import t from 'tap';
import { poll } from '../helpers/clients.js';
import { metricValue, scrape, startHerald, uniquePrefix } from '../helpers/herald.js';
import { waitFor } from '../helpers/wait.js';

const config = (prefix: string, rules: readonly string[]): string => `
channels:
${rules.map((r) => `  - { pattern: "${prefix}${r}:{name}", access: public, history: { size: 20, maxAge: 1m } }`).join('\n')}
log: { level: info }
`;

t.test('a held poll answered because a reload denied its channel counts as outcome policy', async (t) => {
  const p = uniquePrefix();
  const h = await startHerald(t, { config: config(p, ['a', 'b']) });
  const held = poll(h.url, [`${p}b:x`], { client: 'desktop' });
  await waitFor(async () => metricValue(await scrape(h.url), 'herald_polls_held') === 1, { timeoutMs: 5000, what: 'the poll to be held' });

  h.writeConfig(config(p, ['a']));
  h.child.kill('SIGHUP');
  const answer = await held;
  t.equal(answer.status, 200, 'answered now, not at the end of its hold');
  t.same(answer.body.messages, []);

  const text = await scrape(h.url);
  t.equal(metricValue(text, 'herald_poll_holds_total', 'outcome="policy"'), 1, 'counted as policy');
  t.equal(metricValue(text, 'herald_poll_holds_total', 'outcome="message"'), 0, 'not as message');
  t.equal(metricValue(text, 'herald_connections_closed_total', 'transport="poll",reason="policy"'), 1);
  t.match(h.logs(), /"msg":"config reloaded".*"endedSubscriptions":1/);
  const next = await poll(h.url, [`${p}b:x`]);
  t.equal(next.status, 403, 'the next poll is refused with the reason');
});
