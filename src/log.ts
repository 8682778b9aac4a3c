import type { LogLevel } from './config/types.js';

/**
 * JSON-lines logger. Levels below the threshold are the shared no-op function, so a disabled
 * call costs one property read and an empty call (pino's discipline); callers on hot paths
 * never build fields unless `logger.enabled(level)`.
 * Fields whose key names a secret are redacted; messages are never interpolated with them.
 */

export type LogFields = Readonly<Record<string, unknown>>;
export type LogFn = (msg: string, fields?: LogFields) => void;

export interface Logger {
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  /** Lifecycle lines (listening, stopped) that operators and supervisors rely on: written at any level but silent. */
  readonly notice: LogFn;
  enabled(level: Exclude<LogLevel, 'silent'>): boolean;
  child(bindings: LogFields): Logger;
}

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, silent: Infinity } as const;
const SECRET_KEY = /token|secret|key|password|authorization|cookie/i;
const noop: LogFn = () => {};

export function redact(fields: LogFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k)) out[k] = '[redacted]';
    else if (typeof v === 'string' && k === 'url') out[k] = stripQueryToken(v);
    else if (v instanceof Error) out[k] = { name: v.name, message: v.message, stack: v.stack };
    else out[k] = v;
  }
  return out;
}

/** Removes token-like query parameters from a URL before it is logged. */
export function stripQueryToken(url: string): string {
  return url.replace(/([?&](?:token|access_token|key|api_key)=)[^&#]*/gi, '$1[redacted]');
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  bindings: LogFields = {},
): Logger {
  const threshold = LEVELS[level];
  const bound = JSON.stringify(redact(bindings)).slice(1, -1);
  const make = (name: Exclude<LogLevel, 'silent'>, force = false): LogFn => {
    if (LEVELS[name] < threshold && !(force && level !== 'silent')) return noop;
    return (msg, fields) => {
      let line = '{"time":' + Date.now() + ',"level":"' + name + '"';
      if (bound !== '') line += ',' + bound;
      line += ',"msg":' + JSON.stringify(msg);
      if (fields !== undefined) {
        const extra = JSON.stringify(redact(fields)).slice(1, -1);
        if (extra !== '') line += ',' + extra;
      }
      write(line + '}\n');
    };
  };
  return {
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    notice: make('info', true),
    enabled: (name) => LEVELS[name] >= threshold,
    child: (more) => createLogger(level, write, { ...bindings, ...more }),
  };
}
