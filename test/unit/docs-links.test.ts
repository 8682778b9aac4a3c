import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { docFiles } from '../helpers/doc-blocks.js';

// Every relative link in README.md and docs/**.md points at a file that exists, and every
// #anchor at a heading of that file (GitHub's slugs).

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** GitHub's heading ids: lower case, punctuation dropped, spaces to `-`, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Inline links `[text](target)` outside code spans and fences. */
function linksOf(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1]!);
  }
  return out;
}

for (const file of docFiles(ROOT)) {
  t.test(file, async (t) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const link of linksOf(text)) {
      if (/^[a-z]+:/i.test(link)) continue; // https:, mailto:
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
      const shown = relative(ROOT, target) || '.';
      if (!existsSync(target)) {
        t.fail(`${file}: ${link} → ${shown} does not exist`);
        continue;
      }
      if (anchor === undefined) {
        t.pass(`${link}`);
        continue;
      }
      const isMarkdown = statSync(target).isFile() && target.endsWith('.md');
      t.ok(isMarkdown && anchorsOf(readFileSync(target, 'utf8')).has(anchor), `${file}: ${link} → #${anchor} is a heading of ${shown}`);
    }
  });
}

t.test('docs/README.md, the index, links every page of docs/', async (t) => {
  const index = readFileSync(join(ROOT, 'docs', 'README.md'), 'utf8');
  const linked = new Set(linksOf(index).map((l) => l.split('#')[0]));
  for (const file of docFiles(ROOT)) {
    if (!file.startsWith('docs/') || file === 'docs/README.md') continue;
    t.ok(linked.has(relative('docs', file)), `${file} is in the index`);
  }
});
