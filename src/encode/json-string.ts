/**
 * A string as a JSON string literal, exactly as JSON.stringify writes it. Most channel names
 * and text payloads have nothing to escape; for those, one compiled regular expression test
 * and a concatenation replace a call into V8's C++ JSON serializer (~0.35 µs per call under
 * load, twice per message: bench/issue-15.md, seventh pass).
 */

/** What JSON.stringify escapes: `"`, `\`, control characters, and (unpaired) surrogates. */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

export function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : '"' + text + '"';
}

/** jsonString(text) without its quotes, for a caller that joins the quotes in with the rest. */
export function jsonStringBody(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text).slice(1, -1) : text;
}
