import { Document, isAlias, isMap, isScalar, isSeq, LineCounter, Scalar } from 'yaml';
import type { ChoiceSpec, ListSpec, ScalarSpec, SectionSpec, Spec } from './schema.js';
import { SCHEMA, specAt } from './schema.js';
import { formatDuration, formatSize, MAX_DURATION_MS, parseDuration, parseSize } from './units.js';

/**
 * Walks YAML nodes (not the plain JS object) against schema.ts, so every issue carries the
 * line and column of the offending node. The walk yields a draft: plain values in base units
 * plus where each came from. load.ts layers env and CLI settings onto the draft, then
 * `finishConfig` (build.ts) runs the cross-field checks (patterns, templates, classes, URLs)
 * and returns the typed, deep-frozen Config, or null when any error was found.
 */

export interface ConfigIssue {
  readonly file: string;
  /** 1-based; 0 when the issue has no position (env, flags, unreadable file). */
  readonly line: number;
  readonly col: number;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

export interface Origin {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface ConfigDraft {
  readonly file: string;
  /** Plain values in base units, shaped like the YAML; undefined where invalid or inherited. */
  readonly raw: Record<string, unknown>;
  /** Dotted path (`channels.0.redis`) → where the value was written. Absent: a default. */
  readonly origins: Map<string, Origin>;
  /** Variables named by `${...}` in the file (they are not "unknown HERALD_* variables"). */
  readonly envRefs: Set<string>;
  readonly issues: ConfigIssue[];
}

type Path = readonly (string | number)[];
type Converted = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string };

interface Walk {
  readonly draft: ConfigDraft;
  readonly doc: Document | null;
  readonly lineCounter: LineCounter;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const NULL_NODE = new Scalar(null);

export function pathKey(path: Path): string {
  return path.join('.');
}

/** `['channels', 0, 'linger']` → `channels[0].linger`: the knob name shown to operators. */
export function knobName(path: Path): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

function shortName(path: Path): string {
  const last = path[path.length - 1];
  if (typeof last !== 'number') return last ?? 'config';
  return `${String(path[path.length - 2] ?? '')}[${last}]`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** The closest candidate within edit distance 2 (case-insensitive), or null. */
export function suggest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function rangeText(spec: ScalarSpec, n: number, min: number, max: number): string {
  const unit = spec.type === 'duration' ? formatDuration : spec.type === 'size' ? (x: number) => (x === 1 ? '1 byte' : formatSize(x)) : String;
  if (spec.max !== undefined && spec.type !== 'duration') return `between ${unit(min)} and ${unit(max)}`;
  return n > max ? `at most ${unit(max)}` : `at least ${unit(min)}`;
}

function expected(spec: ScalarSpec): string {
  switch (spec.type) {
    case 'string': return 'a string (quote it)';
    case 'int': return 'an integer';
    case 'bool': return 'true or false';
    case 'duration': return 'a duration like 5s';
    case 'size': return 'a size like 64kb';
    case 'enum': return `one of ${(spec.values ?? []).join(', ')}`;
  }
}

function toNumber(spec: ScalarSpec, value: unknown): number | null {
  if (spec.type === 'duration') return typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : null;
  if (spec.type === 'size') return typeof value === 'string' || typeof value === 'number' ? parseSize(value) : null;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  return typeof value === 'string' && /^-?\d{1,15}$/.test(value.trim()) ? Number(value) : null;
}

/**
 * One scalar value (YAML-typed, or text from env / interpolation) → its base-unit value.
 * Messages name the knob and never echo the value (it may be a secret).
 */
export function convertScalar(spec: ScalarSpec, value: unknown, path: Path): Converted {
  const fail = (what: string): Converted => ({ ok: false, message: `${shortName(path)} must be ${what} (${knobName(path)})` });
  switch (spec.type) {
    case 'string': {
      const text = value === null ? '' : value;
      if (typeof text !== 'string') return fail(expected(spec));
      if (spec.nonEmpty === true && text === '') return fail('non-empty');
      return { ok: true, value: text };
    }
    case 'bool':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' };
      return fail(expected(spec));
    case 'enum':
      return typeof value === 'string' && (spec.values ?? []).includes(value) ? { ok: true, value } : fail(expected(spec));
    default: {
      const n = toNumber(spec, value);
      if (n === null) return fail(expected(spec));
      const min = spec.min ?? 0;
      const max = spec.max ?? (spec.type === 'duration' ? MAX_DURATION_MS : Number.MAX_SAFE_INTEGER);
      if (n < min || n > max) return fail(rangeText(spec, n, min, max));
      return { ok: true, value: n };
    }
  }
}

/** Resolves `${VAR}` (and `$${` → `${`). Returns the text or an error message; never the value. */
function interpolate(text: string, w: Walk, path: Path): { ok: true; value: string } | { ok: false; message: string } {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
    } else if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2);
      const name = end === -1 ? '' : text.slice(i + 2, end);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        return { ok: false, message: `${shortName(path)} has a malformed \${...} reference; write \${NAME}, or $\${ for a literal (${knobName(path)})` };
      }
      w.draft.envRefs.add(name);
      const value = w.env[name];
      if (value === undefined) return { ok: false, message: `environment variable ${name} is not set (${knobName(path)})` };
      out += value;
      i = end + 1;
    } else {
      out += text[i];
      i += 1;
    }
  }
  return { ok: true, value: out };
}

function positionOf(w: Walk, node: unknown, fallback: Origin): Origin {
  const range = (node as { range?: readonly number[] | null } | null)?.range;
  const offset = range?.[0];
  if (offset === undefined) return fallback;
  const { line, col } = w.lineCounter.linePos(offset);
  return { file: w.draft.file, line, col };
}

function report(w: Walk, at: Origin, message: string, severity: ConfigIssue['severity'] = 'error'): void {
  w.draft.issues.push({ ...at, severity, message });
}

function isNull(node: unknown): boolean {
  return isScalar(node) && node.value === null;
}

function walk(spec: Spec, written: unknown, path: Path, w: Walk, parent: Origin): unknown {
  const at = positionOf(w, written, parent);
  // An alias is checked as the value it names, reported where the alias is written.
  const node = isAlias(written) && w.doc !== null ? (written.resolve(w.doc) ?? NULL_NODE) : written;
  if (node !== undefined && at !== parent) w.draft.origins.set(pathKey(path), at);
  switch (spec.kind) {
    case 'section': return walkSection(spec, node, path, w, at);
    case 'list': return walkList(spec, node, path, w, at);
    case 'choice': return walkChoice(spec, node, path, w, at);
    case 'scalar': return walkScalar(spec, node, path, w, at);
  }
}

function walkSection(spec: SectionSpec, node: unknown, path: Path, w: Walk, at: Origin): Record<string, unknown> {
  const present = new Map<string, unknown>();
  if (node !== undefined && !isNull(node)) {
    if (!isMap(node)) {
      report(w, at, path.length === 0 ? 'the config must be a mapping of sections (server:, broker:, …)' : `${shortName(path)} must be a mapping (${knobName(path)})`);
      node = undefined; // already reported: its required keys would only repeat the problem
    } else {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : undefined;
        const keyAt = positionOf(w, pair.key, at);
        if (typeof key !== 'string') {
          report(w, keyAt, `keys must be plain words${path.length > 0 ? ` (${knobName(path)})` : ''}`);
        } else if (!Object.hasOwn(spec.fields, key)) {
          const hint = suggest(key, Object.keys(spec.fields));
          const where = path.length > 0 ? ` in ${knobName(path)}` : '';
          report(w, keyAt, `unknown key \`${key}\`${where}${hint === null ? '' : `; did you mean \`${hint}\`?`}`);
        } else {
          present.set(key, pair.value ?? NULL_NODE);
        }
      }
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(spec.fields)) {
    const value = present.get(key);
    if (value === undefined && child.required === true && node !== undefined) {
      report(w, at, `missing required key \`${key}\`${path.length > 0 ? ` (${knobName(path)})` : ''}`);
    }
    out[key] = walk(child, value, [...path, key], w, at);
  }
  return out;
}

function walkList(spec: ListSpec, node: unknown, path: Path, w: Walk, at: Origin): unknown[] {
  let items: readonly unknown[];
  if (node === undefined) {
    // Defaults become range-less nodes, so they share the walk and report at the parent.
    const contents = new Document(spec.default).contents;
    items = isSeq(contents) ? contents.items : [];
  } else if (isNull(node)) {
    items = [];
  } else if (!isSeq(node)) {
    report(w, at, `${shortName(path)} must be a list (${knobName(path)})`);
    items = [];
  } else {
    items = node.items;
  }
  return items.map((item, index) => walk(spec.item, item ?? NULL_NODE, [...path, index], w, at));
}

function walkChoice(spec: ChoiceSpec, node: unknown, path: Path, w: Walk, at: Origin): unknown {
  if (node === undefined) return spec.default;
  if (isMap(node)) return walkSection(spec.map, node, path, w, at);
  if (isScalar(node) && typeof node.value === 'string' && spec.values.includes(node.value)) return node.value;
  const words = spec.values.map((v) => `\`${v}\``).join(', ');
  report(w, at, `${shortName(path)} must be ${words} or a mapping (${knobName(path)})`);
  return undefined;
}

function walkScalar(spec: ScalarSpec, node: unknown, path: Path, w: Walk, at: Origin): unknown {
  if (node === undefined) {
    if (spec.default === undefined) return undefined;
    const converted = convertScalar(spec, spec.default, path);
    return converted.ok ? converted.value : undefined;
  }
  if (!isScalar(node)) {
    report(w, at, `${shortName(path)} must be ${expected(spec)} (${knobName(path)})`);
    return undefined;
  }
  let value: unknown = node.value;
  if (typeof value === 'string' && value.includes('$')) {
    const resolved = interpolate(value, w, path);
    if (!resolved.ok) {
      report(w, at, resolved.message);
      return undefined;
    }
    value = resolved.value;
  }
  const converted = convertScalar(spec, value, path);
  if (!converted.ok) report(w, at, converted.message);
  return converted.ok ? converted.value : undefined;
}

/**
 * Walks a parsed document (or nothing: the embedded defaults) against the schema.
 * Issues are collected, never thrown.
 */
export function validateDocument(
  doc: Document | null,
  opts: { file: string; lineCounter: LineCounter; env: Readonly<Record<string, string | undefined>> },
): ConfigDraft {
  const draft: ConfigDraft = { file: opts.file, raw: {}, origins: new Map(), envRefs: new Set(), issues: [] };
  const w: Walk = { draft, doc, lineCounter: opts.lineCounter, env: opts.env };
  const contents = doc === null || doc.contents === null ? undefined : doc.contents;
  const raw = walkSection(SCHEMA, contents, [], w, { file: opts.file, line: 1, col: 1 });
  Object.assign(draft.raw, raw);
  return draft;
}

/**
 * Sets one value from outside the file (env or CLI flag) at a dotted section path. `source`
 * names it in messages (`env HERALD_PORT`, `--port`). Returns false when the value was refused.
 */
export function applySetting(draft: ConfigDraft, path: string, value: unknown, source: string): boolean {
  const spec = specAt(path);
  if (spec === null || spec.kind !== 'scalar') throw new Error(`not a settable scalar: ${path}`);
  const parts = path.split('.');
  const converted = convertScalar(spec, value, parts);
  if (!converted.ok) {
    draft.issues.push({ file: source, line: 0, col: 0, severity: 'error', message: converted.message });
    return false;
  }
  let target = draft.raw;
  for (const part of parts.slice(0, -1)) target = target[part] as Record<string, unknown>;
  target[parts[parts.length - 1] ?? ''] = converted.value;
  draft.origins.set(path, { file: source, line: 0, col: 0 });
  return true;
}

