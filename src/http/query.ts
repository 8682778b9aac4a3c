/**
 * The query string of a request, read as URLSearchParams reads it (`&`-separated pairs, split
 * at the first `=`, `+` and percent escapes decoded), for the two reads Herald makes: get() and
 * getAll(). A poll cycle reads one query with three or four get()s; URLSearchParams costs a
 * decode call per key and value and an internal list per request, and even a parse into two
 * arrays allocated ~500 bytes per request (two 17-slot backing stores and a string per pair),
 * a tenth of a poll cycle's garbage (bench/README.md). So nothing is parsed up front: each
 * read scans the text, comparing keys in place, and slices only the value it returns. A pair
 * with an escape is decoded when a read reaches it; a malformed one goes through
 * URLSearchParams itself, so decoding stays exactly the platform's.
 */
export class QueryParams {
  private readonly text: string;

  constructor(query: string) {
    this.text = query.charCodeAt(0) === 0x3f /* ? */ ? query.slice(1) : query;
  }

  get(name: string): string | null {
    return this.find(name, 0);
  }

  getAll(name: string): string[] {
    // Most requests name one channel: a one-slot literal, where push() onto [] reserves 17.
    let out: string[] | null = null;
    for (let value = this.find(name, 0); value !== null; value = this.find(name, this.after)) {
      if (out === null) out = [value];
      else out.push(value);
    }
    return out ?? [];
  }

  /** Where the pair find() last matched ends (the next find starts there). */
  private after = 0;

  /** The value of the first pair at or after `from` whose key is `name`; null when none. */
  private find(name: string, from: number): string | null {
    const text = this.text;
    let start = from;
    while (start < text.length) {
      let end = text.indexOf('&', start);
      if (end === -1) end = text.length;
      const value = end > start ? this.valueOf(start, end, name) : null;
      start = end + 1;
      if (value !== null) {
        this.after = start;
        return value;
      }
    }
    return null;
  }

  /** The value of the pair text[start, end) when its key is `name`, else null. */
  private valueOf(start: number, end: number, name: string): string | null {
    const text = this.text;
    let eq = text.indexOf('=', start);
    if (eq === -1 || eq > end) eq = end;
    if (hasEscape(text, start, eq)) {
      const [key, value] = decodePair(text.slice(start, end));
      return key === name ? value : null;
    }
    // A plain key (the usual case, even where values are escaped: channel=news%3Asports) is
    // compared in place, so reading `cursor` decodes no other pair's value.
    if (eq - start !== name.length || !text.startsWith(name, start)) return null;
    if (eq === end) return '';
    return hasEscape(text, eq + 1, end) ? decodePair(text.slice(start, end))[1] : text.slice(eq + 1, end);
  }
}

function hasEscape(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 /* % */ || c === 0x2b /* + */) return true;
  }
  return false;
}

/** One non-empty pair with an escape, as URLSearchParams reads it. */
function decodePair(pair: string): readonly [string, string] {
  const eq = pair.indexOf('=');
  const key = eq === -1 ? pair : pair.slice(0, eq);
  const value = eq === -1 ? '' : pair.slice(eq + 1);
  try {
    // Well-formed escapes of valid UTF-8 (channel=pub%3Aa): decodeURIComponent decodes them
    // as URLSearchParams does.
    return [decode(key), decode(value)];
  } catch {
    // Malformed: URLSearchParams keeps bad escapes and replaces bad UTF-8; let it. A
    // non-empty text without `&` is exactly one pair.
    const [entry] = new URLSearchParams(pair);
    return entry!;
  }
}

function decode(text: string): string {
  return percentDecode(text.includes('+') ? text.replace(/\+/g, ' ') : text);
}

/**
 * decodeURIComponent, with ASCII escapes (`%3A` in `channel=news%3Asports`, what browsers and
 * URL builders send for most channel names) decoded here: the builtin is a runtime call that
 * cost ~2 µs of a connect in the churn profile. An escape of a non-ASCII byte (UTF-8) or a
 * malformed one goes to the builtin, so decoding and its errors stay exactly the platform's.
 */
function percentDecode(text: string): string {
  let at = text.indexOf('%');
  if (at === -1) return text;
  let out = '';
  let from = 0;
  while (at !== -1) {
    const hi = hexDigit(text.charCodeAt(at + 1));
    const lo = hexDigit(text.charCodeAt(at + 2));
    if (hi < 0 || lo < 0 || hi > 7) return decodeURIComponent(text);
    out += text.slice(from, at) + String.fromCharCode(hi * 16 + lo);
    from = at + 3;
    at = text.indexOf('%', from);
  }
  return out + text.slice(from);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
