import { readFileSync } from 'node:fs';
import t from 'tap';

// docs/proxy.md shows config/nginx-herald.conf verbatim: the file the nginx integration test
// runs. A change to one without the other fails here.
const conf = readFileSync(new URL('../../config/nginx-herald.conf', import.meta.url), 'utf8');
const doc = readFileSync(new URL('../../docs/proxy.md', import.meta.url), 'utf8');

t.test('docs/proxy.md holds config/nginx-herald.conf verbatim', async (t) => {
  t.ok(doc.includes('```nginx\n' + conf + '```\n'), 'the whole file, in one nginx code block');
});

t.test('the documented file carries the settings the docs call required', async (t) => {
  for (const line of ['proxy_http_version 1.1;', 'proxy_buffering off;', 'proxy_read_timeout 330s;', 'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;', 'proxy_set_header Upgrade $http_upgrade;']) {
    t.ok(conf.includes(line), line);
  }
});
