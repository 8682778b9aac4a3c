import { readFileSync } from 'node:fs';
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';

// docs/errors.md: the error table and src/errors.ts must agree in both directions (codes, status, temporary).

interface Row {
  readonly status: number;
  readonly temporary: boolean;
}

const HEADER = '| Code | Status | Temporary | Meaning | What to do |';
const ROW = /^\| `([a-z_]+)` \| (\d{3}) \| (yes|no) \| [^|]*\S[^|]* \| .*\S.* \|$/;

/**
 * The rows of the error table (the one under HEADER) in `markdown`. Every line of that
 * table must be a well-formed row: a malformed one is a problem, never silently skipped.
 */
export function parseErrorTable(markdown: string): { rows: Map<string, Row>; problems: string[] } {
  const lines = markdown.split('\n');
  const header = lines.indexOf(HEADER);
  const rows = new Map<string, Row>();
  const problems: string[] = [];
  if (header < 0) return { rows, problems: ['no error table header'] };
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const m = ROW.exec(line);
    if (m === null) problems.push(`malformed row: ${line}`);
    else if (rows.has(m[1]!)) problems.push(`duplicate row: ${m[1]}`);
    else rows.set(m[1]!, { status: Number(m[2]), temporary: m[3] === 'yes' });
  }
  return { rows, problems };
}

const { rows, problems } = parseErrorTable(readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8'));

t.test('every row of the table is well formed', async (t) => {
  t.same(problems, []);
});

t.test('every code in errors.ts is documented with its status and temporary flag', async (t) => {
  for (const [code, spec] of Object.entries(ErrorCode)) {
    t.same(rows.get(code), { status: spec.status, temporary: spec.temporary }, code);
  }
});

t.test('docs/errors.md documents no code that errors.ts lacks', async (t) => {
  for (const code of rows.keys()) t.ok(code in ErrorCode, code);
});

t.test('the parser reports what it cannot read', async (t) => {
  const doc = (...lines: string[]): string => ['# x', '', '## Errors', '', HEADER, '| --- | --- | --- | --- | --- |', ...lines, '', '## Next'].join('\n');
  const good = '| `a_b` | 400 | no | Meaning | Do this |';
  t.same(parseErrorTable(doc(good)).problems, []);
  t.equal(parseErrorTable(doc(good)).rows.size, 1);
  for (const bad of ['| `a_b` | 40 | no | M | D |', '| a_b | 400 | no | M | D |', '| `a_b` | 400 | maybe | M | D |', '| `a_b` | 400 | no |  | D |', '| `a_b` | 400 | no | M |']) {
    t.equal(parseErrorTable(doc(good, bad)).problems.length, 1, bad);
  }
  t.same(parseErrorTable(doc(good, good)).problems, ['duplicate row: a_b']);
  t.same(parseErrorTable('## Other').problems, ['no error table header']);
});
