import { readFileSync } from 'node:fs';
import { isAlias, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { finishConfig } from './build.js';
import type { Config, LogLevel } from './types.js';
import { applySetting, suggest, validateDocument, type ConfigDraft, type ConfigIssue } from './validate.js';

export type { ConfigIssue } from './validate.js';

/** Values from CLI flags; they win over the file and the environment. */
export interface ConfigOverrides {
  readonly host?: string;
  readonly port?: number;
  /** `--redis URL`: switches the broker to redis with this URL. */
  readonly redisUrl?: string;
  readonly logLevel?: LogLevel;
}

/**
 * The HERALD_* variables Herald reads. Any other HERALD_* variable is most likely a typo and
 * gets a warning (centrifugo `checkEnvironmentVars`). HERALD_CONFIG is read by the CLI;
 * HERALD_WORKER is set by the supervisor in its workers (src/supervisor/ipc.ts).
 */
export const HERALD_ENV_VARS = ['HERALD_HOST', 'HERALD_PORT', 'HERALD_LOG_LEVEL', 'HERALD_REDIS_URL', 'HERALD_CONFIG', 'HERALD_WORKER'] as const;

/** Label used in issues when there is no file (embedded defaults). */
const DEFAULTS_LABEL = '<defaults>';

type Env = Readonly<Record<string, string | undefined>>;

function readText(file: string, issues: ConfigIssue[]): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    issues.push({ file, line: 0, col: 0, severity: 'error', message: `cannot read the config file (${code})` });
    return null;
  }
}

/** YAML syntax problems → issues. Returns false when the document is too broken to walk. */
function yamlIssues(doc: Document, text: string, file: string, lineCounter: LineCounter, issues: ConfigIssue[]): boolean {
  let walkable = true;
  const at = (pos: readonly number[]): { line: number; col: number } => lineCounter.linePos(Math.max(0, pos[0] ?? 0));
  for (const err of doc.errors) {
    let message = err.message;
    if (err.code === 'DUPLICATE_KEY') {
      const key = /^[^\s:]+/.exec(text.slice(err.pos[0]))?.[0];
      message = `duplicate key${key === undefined ? '' : ` \`${key}\``}; keys must be unique within a mapping`;
    } else {
      walkable = false;
      if (err.code === 'MULTIPLE_DOCS') message = 'a config file holds one YAML document; remove the `---` separator';
    }
    issues.push({ file, ...at(err.pos), severity: 'error', message });
  }
  for (const warning of doc.warnings) issues.push({ file, ...at(warning.pos), severity: 'warning', message: warning.message });
  if (walkable) anchorIssues(doc, file, lineCounter, issues);
  return walkable;
}

/**
 * Anchors and aliases the parser lets through: an alias to an anchor not defined before it
 * (it would silently read as null, i.e. the default), and an anchor defined twice (an alias
 * then means whichever came last, which no reader expects). Both are config errors.
 */
function anchorIssues(doc: Document, file: string, lineCounter: LineCounter, issues: ConfigIssue[]): void {
  const seen = new Set<string>();
  const at = (range: readonly number[] | null | undefined): { line: number; col: number } => lineCounter.linePos(range?.[0] ?? 0);
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      if (node.resolve(doc) === undefined) {
        issues.push({ file, ...at(node.range), severity: 'error', message: `alias *${node.source} names no anchor defined before it` });
      }
      return;
    }
    if (node === null || typeof node !== "object") return;
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor === undefined) return;
    const range = (node as { range?: readonly number[] | null }).range;
    if (seen.has(anchor)) issues.push({ file, ...at(range), severity: 'error', message: `anchor &${anchor} is defined twice; give each anchor its own name` });
    seen.add(anchor);
  });
}

/** Empty values count as unset, so `HERALD_PORT= herald start` behaves like no variable. */
function applyEnv(draft: ConfigDraft, env: Env): void {
  const redisUrl = env['REDIS_URL'];
  // REDIS_URL only supplies the default URL: the file's broker.url and type still win.
  if (redisUrl !== undefined && redisUrl !== '' && !draft.origins.has('broker.url')) {
    applySetting(draft, 'broker.url', redisUrl, 'env REDIS_URL');
  }
  const settings: [string, string][] = [
    ['HERALD_HOST', 'server.host'],
    ['HERALD_PORT', 'server.port'],
    ['HERALD_LOG_LEVEL', 'log.level'],
    ['HERALD_REDIS_URL', 'broker.url'],
  ];
  for (const [name, path] of settings) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (name === 'HERALD_REDIS_URL') applySetting(draft, 'broker.type', 'redis', `env ${name}`);
    applySetting(draft, path, value, `env ${name}`);
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('HERALD_') || value === undefined) continue;
    if ((HERALD_ENV_VARS as readonly string[]).includes(name) || draft.envRefs.has(name)) continue;
    const hint = suggest(name, HERALD_ENV_VARS);
    draft.issues.push({
      file: `env ${name}`,
      line: 0,
      col: 0,
      severity: 'warning',
      message: `unknown variable ${name} is ignored${hint === null ? '' : `; did you mean ${hint}?`}`,
    });
  }
}

function applyOverrides(draft: ConfigDraft, overrides: ConfigOverrides): void {
  if (overrides.host !== undefined) applySetting(draft, 'server.host', overrides.host, '--host');
  if (overrides.port !== undefined) applySetting(draft, 'server.port', overrides.port, '--port');
  if (overrides.logLevel !== undefined) applySetting(draft, 'log.level', overrides.logLevel, '--log-level');
  if (overrides.redisUrl !== undefined) {
    applySetting(draft, 'broker.type', 'redis', '--redis');
    applySetting(draft, 'broker.url', overrides.redisUrl, '--redis');
  }
}

/** Warnings first, then errors; each group by position (env and flag issues, line 0, lead). */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const rank = (issue: ConfigIssue): number => (issue.severity === 'warning' ? 0 : 1);
  return [...issues].sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.col - b.col);
}

/** `FILE:LINE:COL: message`, or `FILE: message` when there is no position (`env HERALD_PORT: …`). */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.col}` : issue.file;
  return `${where}: ${issue.severity === 'warning' ? 'warning: ' : ''}${issue.message}`;
}

/**
 * Defaults < file < HERALD_* env < CLI overrides. `file: null` means the embedded defaults.
 * Never throws for user mistakes: every problem is an issue, all of them are collected, and
 * `config` is null when any is an error. The config is typed, complete and deep-frozen.
 */
export function loadConfig(opts: { file: string | null; env: Env; overrides: ConfigOverrides }): {
  config: Config | null;
  issues: ConfigIssue[];
} {
  const lineCounter = new LineCounter();
  const issues: ConfigIssue[] = [];
  let doc: Document | null = null;
  if (opts.file !== null) {
    const text = readText(opts.file, issues);
    if (text === null) return { config: null, issues };
    doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
    if (!yamlIssues(doc, text, opts.file, lineCounter, issues)) return { config: null, issues: sortIssues(issues) };
  }
  const draft = validateDocument(doc, { file: opts.file ?? DEFAULTS_LABEL, lineCounter, env: opts.env });
  draft.issues.push(...issues);
  applyEnv(draft, opts.env);
  applyOverrides(draft, opts.overrides);
  const config = finishConfig(draft, opts.file ?? '');
  return { config, issues: sortIssues(draft.issues) };
}
