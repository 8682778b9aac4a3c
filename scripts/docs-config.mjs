// Regenerates the reference tables in docs/configuration.md from src/config/schema.ts.
// Run with `npm run docs:config` (builds first); test/unit/config-docs.test.ts fails on drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { withReference } from '../dist/config/reference.js';

const file = new URL('../docs/configuration.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = withReference(before);
writeFileSync(file, after);
console.log(before === after ? 'docs/configuration.md: up to date' : 'docs/configuration.md: regenerated');
