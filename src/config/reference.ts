import { RESTART_ONLY_SECTIONS, SCHEMA, type ScalarSpec, type Spec, type YamlDefault } from './schema.js';

/**
 * docs/configuration.md's reference tables, generated from SCHEMA (`npm run docs:config`
 * writes them between the markers; a unit test fails when the file drifts from the schema).
 * Pure: no I/O.
 */

export const REFERENCE_BEGIN = '<!-- BEGIN GENERATED: npm run docs:config (from src/config/schema.ts) -->';
export const REFERENCE_END = '<!-- END GENERATED -->';

export function configReference(): string {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(SCHEMA.fields)) {
    const restart = (RESTART_ONLY_SECTIONS as readonly string[]).includes(name);
    out.push(`### \`${name}\``, '', `${spec.doc} ${restart ? 'A change needs a restart (SIGHUP logs and ignores it).' : 'Reloadable: SIGHUP applies a change at once.'}`, '');
    out.push('| Key | Type | Default | Meaning |', '| --- | --- | --- | --- |');
    for (const row of rows(spec, name)) out.push(row);
    out.push('');
  }
  return out.join('\n');
}

/** Replaces the generated region of `markdown` (which must hold both markers). */
export function withReference(markdown: string): string {
  const begin = markdown.indexOf(REFERENCE_BEGIN);
  const end = markdown.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin) throw new Error('docs/configuration.md lacks the generated-region markers');
  return markdown.slice(0, begin + REFERENCE_BEGIN.length) + '\n\n' + configReference() + '\n' + markdown.slice(end);
}

function rows(spec: Spec, path: string): string[] {
  const out: string[] = [];
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  const add = (p: string, s: Spec, type: string, def: string): void => {
    out.push(`| \`${p}\` | ${type} | ${cell(def)} | ${cell(s.doc)} |`);
  };
  switch (spec.kind) {
    case 'scalar':
      add(path, spec, typeOf(spec), defaultOf(spec));
      break;
    case 'choice':
      add(path, spec, `${spec.values.map((v) => `\`${v}\``).join(' \\| ')} or mapping`, spec.default !== undefined ? `\`${spec.default}\`` : 'required');
      for (const [key, child] of Object.entries(spec.map.fields)) out.push(...rows(child, `${path}.${key}`));
      break;
    case 'list':
      if (spec.item.kind === 'section') {
        add(path, spec, 'list of mappings', spec.required === true ? 'required' : flow(spec.default));
        for (const [key, child] of Object.entries(spec.item.fields)) out.push(...rows(child, `${path}[].${key}`));
      } else {
        add(path, spec, `list of ${typeOf(spec.item)}`, spec.required === true ? 'required' : flow(spec.default));
      }
      break;
    case 'section':
      for (const [key, child] of Object.entries(spec.fields)) out.push(...rows(child, `${path}.${key}`));
      break;
  }
  return out;
}

function typeOf(spec: ScalarSpec): string {
  const range = spec.min !== undefined && spec.max !== undefined && spec.max < Number.MAX_SAFE_INTEGER ? ` ${spec.min}…${spec.max}` : spec.min !== undefined && spec.type === 'int' ? ` ≥ ${spec.min}` : '';
  switch (spec.type) {
    case 'int': return `integer${range}`;
    case 'bool': return 'boolean';
    case 'duration': return 'duration';
    case 'size': return 'size (bytes)';
    case 'enum': return (spec.values ?? []).map((v) => `\`${v}\``).join(' \\| ');
    case 'string': return spec.nonEmpty === true ? 'string (not empty)' : 'string';
  }
}

function defaultOf(spec: ScalarSpec): string {
  if (spec.required === true) return 'required';
  if (spec.default === undefined) return 'inherited (see meaning)';
  if (spec.default === '') return '`""`';
  return `\`${String(spec.default)}\``;
}

/** A default as YAML flow text. */
function flow(value: YamlDefault): string {
  const text = (v: YamlDefault): string => {
    if (Array.isArray(v)) return `[${v.map(text).join(', ')}]`;
    if (v !== null && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${text(x)}`).join(', ')} }`;
    if (typeof v === 'string') return v === '' || /[:,{}[\]#|*]/.test(v) ? JSON.stringify(v) : v;
    return String(v);
  };
  return `\`${text(value)}\``;
}
