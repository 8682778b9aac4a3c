import { readFileSync } from 'node:fs';
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';

// docs/errors.md: the error table and src/errors.ts must agree in both directions (codes, status, temporary).
const section = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map<string, { status: number; temporary: boolean }>();
for (const line of section.split('\n')) {
  const m = /^\| `([a-z_]+)` \| (\d{3}) \| (yes|no) \|/.exec(line);
  if (m !== null) rows.set(m[1]!, { status: Number(m[2]), temporary: m[3] === 'yes' });
}

t.test('every code in errors.ts is documented with its status and temporary flag', async (t) => {
  for (const [code, spec] of Object.entries(ErrorCode)) {
    t.same(rows.get(code), { status: spec.status, temporary: spec.temporary }, code);
  }
});

t.test('docs/errors.md documents no code that errors.ts lacks', async (t) => {
  for (const code of rows.keys()) t.ok(code in ErrorCode, code);
});
