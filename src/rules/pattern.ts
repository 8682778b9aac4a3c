/**
 * Channel patterns such as `thread:{id}` and Redis templates such as `app:thread:{id}`. Pure.
 *
 * A parameter matches exactly one segment: one or more of `A-Z a-z 0-9 _ . @ = + -`, so it
 * never spans `:` (PRODUCT.md "a pattern parameter matches one segment"). A channel name is
 * made of segment characters and `:`. Redis templates may hold any literal text.
 */

const SEGMENT_CLASS = '[A-Za-z0-9_.@=+\\-]';
const CHANNEL_RE = /^[A-Za-z0-9_.@=+:-]+$/;
const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Templates are few (one per rule); the bound only guards against misuse with ad-hoc templates. */
const TEMPLATE_CACHE_MAX = 256;

export const CHANNEL_CHARSET_DOC = 'letters, digits, `_ . @ = + -` and `:`';

export interface CompiledPattern {
  readonly source: string;
  readonly params: readonly string[];
  /** The parameter values when the whole channel matches, else null. */
  match(channel: string): Record<string, string> | null;
  /** Fills `{param}` placeholders of `template` from `params` (every placeholder must be present). */
  render(template: string, params: Readonly<Record<string, string>>): string;
}

type Part = { readonly literal: string } | { readonly param: string };

/** Splits `a:{x}:b` into literal and parameter parts. Throws Error describing the first fault. */
function parseParts(source: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{', i);
    const close = source.indexOf('}', i);
    if (close !== -1 && (open === -1 || close < open)) throw new Error(`has a \`}\` without \`{\` at offset ${close}`);
    if (open === -1) {
      parts.push({ literal: source.slice(i) });
      break;
    }
    if (open > i) parts.push({ literal: source.slice(i, open) });
    if (close === -1) throw new Error(`has an unclosed \`{\` at offset ${open}`);
    const name = source.slice(open + 1, close);
    if (!PARAM_NAME_RE.test(name)) {
      throw new Error(`has an invalid parameter name \`{${name}}\` (use letters, digits and _)`);
    }
    parts.push({ param: name });
    i = close + 1;
  }
  return parts;
}

function paramsOf(parts: readonly Part[]): string[] {
  const names: string[] = [];
  for (const part of parts) if ('param' in part) names.push(part.param);
  return names;
}

/** The parameter names a Redis template uses. Throws Error on bad brace syntax. */
export function templateParams(template: string): string[] {
  if (template === '') throw new Error('must not be empty');
  return paramsOf(parseParts(template));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

/** Compiles a client-facing pattern. Throws Error with a message that completes "pattern …". */
export function compilePattern(source: string): CompiledPattern {
  if (source === '') throw new Error('must not be empty');
  const parts = parseParts(source);
  const params = paramsOf(parts);
  let regex = '^';
  let previousWasParam = false;
  for (const part of parts) {
    if ('param' in part) {
      if (previousWasParam) throw new Error(`has adjacent parameters before \`{${part.param}}\`; separate them with text`);
      regex += `(${SEGMENT_CLASS}+)`;
      previousWasParam = true;
    } else {
      if (!CHANNEL_RE.test(part.literal)) {
        throw new Error(`has characters outside ${CHANNEL_CHARSET_DOC} in \`${part.literal}\``);
      }
      regex += escapeRegExp(part.literal);
      previousWasParam = false;
    }
  }
  const duplicate = params.find((name, index) => params.indexOf(name) !== index);
  if (duplicate !== undefined) throw new Error(`uses \`{${duplicate}}\` twice`);
  const matcher = new RegExp(regex + '$');
  const templates = new Map<string, readonly Part[]>();

  return {
    source,
    params,
    match(channel) {
      const m = matcher.exec(channel);
      if (m === null) return null;
      // fromEntries defines own properties, so a parameter named `__proto__` stays data.
      return Object.fromEntries(params.map((name, index) => [name, m[index + 1] ?? '']));
    },
    render(template, values) {
      let compiled = templates.get(template);
      if (compiled === undefined) {
        compiled = parseParts(template);
        if (templates.size < TEMPLATE_CACHE_MAX) templates.set(template, compiled);
      }
      let out = '';
      for (const part of compiled) {
        if ('literal' in part) {
          out += part.literal;
          continue;
        }
        const value = Object.hasOwn(values, part.param) ? values[part.param] : undefined;
        if (value === undefined) throw new Error(`template \`${template}\` needs parameter \`${part.param}\``);
        out += value;
      }
      return out;
    },
  };
}

/** True when `name` is non-empty, at most `maxLength` characters and within the channel charset. */
export function isValidChannelName(name: string, maxLength: number): boolean {
  return name.length > 0 && name.length <= maxLength && CHANNEL_RE.test(name);
}
