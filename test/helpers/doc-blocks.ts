import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Fenced code blocks of the Markdown docs (README.md and docs/**), with the marker that says
 * how a test exercises each one. The convention (docs/development.md, "Examples in the docs"):
 *
 *   <!-- illustrative -->            or  <!-- illustrative: why -->   not run
 *   <!-- run: check-config -->       yaml: `herald check-config` must accept it (the default for yaml)
 *   <!-- run: daemon -->             sh: starts Herald; must log `listening`, is then stopped
 *   <!-- run: expect="TEXT" -->      the output (stdout, or the browser console) must contain TEXT
 *   <!-- run: publish="CHANNEL DATA" expect="TEXT" -->   publish DATA on CHANNEL until TEXT shows
 *
 * The marker is the HTML comment on the line right above the fence. Without one, `yaml` runs
 * through check-config, `sh`/`bash` runs in bash, `js` runs in Chromium (or in Node when it
 * has an `import`), `json` must parse; any other language needs a marker.
 */

export interface DocBlock {
  /** Repository-relative path and the fence's 1-based line: `docs/auth.md:42`. */
  readonly where: string;
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly body: string;
  /** null: no marker. */
  readonly marker: Marker | null;
}

export type Marker =
  | { readonly kind: 'illustrative'; readonly reason: string }
  | { readonly kind: 'run'; readonly options: Readonly<Record<string, string>> };

export type Runner = 'check-config' | 'bash' | 'daemon' | 'browser' | 'node' | 'json' | 'skip';

const MARKER = /^\s*<!--\s*(illustrative|run)\b:?\s*(.*?)\s*-->\s*$/;
const OPTION = /([a-z-]+)(?:=(?:"([^"]*)"|'([^']*)'|(\S+)))?/g;

/** README.md and every Markdown file under docs/, sorted: the docs a user reads. */
export function docFiles(root: string): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) out.push(path);
    }
  };
  walk('docs');
  return out.sort();
}

export function parseMarker(line: string): Marker | null {
  const m = MARKER.exec(line);
  if (m === null) return null;
  if (m[1] === 'illustrative') return { kind: 'illustrative', reason: m[2] ?? '' };
  const options: Record<string, string> = {};
  for (const o of (m[2] ?? '').matchAll(OPTION)) options[o[1]!] = o[2] ?? o[3] ?? o[4] ?? 'true';
  return { kind: 'run', options };
}

export function extractBlocks(root: string, file: string): DocBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (open === null) continue;
    const [, indent, fence, lang] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !lines[j]!.trimStart().startsWith(fence!); j++) body.push(lines[j]!.slice(indent!.length));
    blocks.push({
      where: `${relative('.', file)}:${i + 1}`,
      file,
      line: i + 1,
      lang: (lang ?? '').toLowerCase(),
      body: body.join('\n') + '\n',
      marker: i > 0 ? parseMarker(lines[i - 1]!) : null,
    });
    i = j;
  }
  return blocks;
}

/** How the examples test exercises a block, or why it cannot (an error to report). */
export function runnerOf(block: DocBlock): Runner | { readonly problem: string } {
  const marker = block.marker;
  if (marker?.kind === 'illustrative') return 'skip';
  const opts = marker?.kind === 'run' ? marker.options : {};
  if (opts['check-config'] !== undefined) return 'check-config';
  if (opts.daemon !== undefined) return 'daemon';
  switch (block.lang) {
    case 'yaml': case 'yml': return 'check-config';
    case 'sh': case 'bash': case 'shell': return 'bash';
    case 'js': case 'javascript': case 'mjs': return /^\s*import\s/m.test(block.body) ? 'node' : 'browser';
    case 'json': return 'json';
    default:
      return { problem: `a \`${block.lang || 'plain'}\` block needs a runner or <!-- illustrative --> above its fence (see docs/development.md)` };
  }
}
