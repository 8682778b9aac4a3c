/**
 * The query string of a request, parsed as URLSearchParams parses it (`&`-separated pairs,
 * split at the first `=`, `+` and percent escapes decoded), for the two reads Herald makes:
 * get() and getAll(). A poll cycle parses one; URLSearchParams costs a decode call per key and
 * value and an internal list per request (~4% of a poll cycle's JavaScript in the profile, see
 * bench/issue-15.md). Plain keys and values are sliced from the text; one with an escape is
 * decoded here when well-formed, else by URLSearchParams itself, so decoding stays exactly the
 * platform's.
 *
 * Keys and values share one array sized to the pairs: two arrays grown by push held 16 slots
 * each, and with the pair strings they were ~500 of the ~4,100 bytes a poll cycle allocated
 * (issue 15, tenth pass).
 */
export class QueryParams {
  /** Key, value, key, value…: exactly the pairs (and one spare pair where an empty one was skipped). */
  private readonly pairs: string[];
  private count = 0;

  constructor(query: string) {
    // A query-less request (/metrics, /healthz) must not read past the end: one out-of-bounds
    // read deoptimized the poll path's optimized code after every restart's first scrape.
    const text = query.length > 0 && query.charCodeAt(0) === 0x3f /* ? */ ? query.slice(1) : query;
    let n = text.length === 0 ? 0 : 1;
    for (let at = text.indexOf('&'); at !== -1; at = text.indexOf('&', at + 1)) n++;
    this.pairs = new Array<string>(2 * n);
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('&', start);
      if (end === -1) end = text.length;
      if (end > start) this.addPair(text, start, end);
      start = end + 1;
    }
  }

  get(name: string): string | null {
    const pairs = this.pairs;
    for (let i = 0; i < this.count; i += 2) if (pairs[i] === name) return pairs[i + 1]!;
    return null;
  }

  getAll(name: string): string[] {
    const pairs = this.pairs;
    let first: string | null = null;
    let more: string[] | null = null;
    for (let i = 0; i < this.count; i += 2) {
      if (pairs[i] !== name) continue;
      if (first === null) first = pairs[i + 1]!;
      else (more ??= [first]).push(pairs[i + 1]!);
    }
    return more ?? (first === null ? [] : [first]);
  }

  private addPair(text: string, start: number, end: number): void {
    let eq = text.indexOf('=', start);
    if (eq === -1 || eq > end) eq = end;
    let key = text.slice(start, eq);
    let value = eq === end ? '' : text.slice(eq + 1, end);
    if (hasEscape(text, start, end)) {
      try {
        // Well-formed escapes of valid UTF-8 (channel=pub%3Aa): decodeURIComponent decodes them
        // as URLSearchParams does.
        key = decode(key);
        value = decode(value);
      } catch {
        // Malformed (the key may be decoded already: both are read again): URLSearchParams keeps
        // bad escapes and replaces bad UTF-8; let it (a pair that is not empty is one entry).
        [key, value] = new URLSearchParams(text.slice(start, end)).entries().next().value as [string, string];
      }
    }
    this.pairs[this.count++] = key;
    this.pairs[this.count++] = value;
  }
}

function hasEscape(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 /* % */ || c === 0x2b /* + */) return true;
  }
  return false;
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
