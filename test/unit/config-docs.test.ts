import { readFileSync } from 'node:fs';
import t from 'tap';
import { configReference, REFERENCE_BEGIN, REFERENCE_END, withReference } from '../../src/config/reference.js';
import { schemaKeyPaths } from '../../src/config/schema.js';

// docs/configuration.md's key tables are generated from the schema: this fails on drift.
const file = new URL('../../docs/configuration.md', import.meta.url);
const doc = readFileSync(file, 'utf8');

t.test('docs/configuration.md matches the schema (run `npm run docs:config` after changing src/config/schema.ts)', async (t) => {
  t.ok(doc.includes(REFERENCE_BEGIN) && doc.includes(REFERENCE_END), 'the generated region is marked');
  t.equal(withReference(doc), doc, 'the generated region is what the schema produces today');
});

t.test('every schema key has a row, sections as headings', async (t) => {
  const reference = configReference();
  // Sections are headings (`### \`server\``) or a path prefix of their keys' rows.
  for (const path of schemaKeyPaths()) t.ok(reference.includes(`| \`${path}`) || reference.includes(`### \`${path}\``), path);
});
