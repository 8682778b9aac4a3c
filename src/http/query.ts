/**
 * The query string of a request, parsed as URLSearchParams parses it (`&`-separated pairs,
 * split at the first `=`, `+` and percent escapes decoded), for the two reads Herald makes:
 * get() and getAll(). A poll cycle parses one; URLSearchParams costs a decode call per key and
 * value and an internal list per request (~4% of a poll cycle's JavaScript in the profile, see
 * bench/README.md). Plain pairs, the usual case, are kept as sliced strings; a pair with an
 * escape goes through URLSearchParams itself, so decoding stays exactly the platform's.
 */
export class QueryParams {
  private readonly keys: string[] = [];
  private readonly values: string[] = [];

  constructor(query: string) {
    const text = query.charCodeAt(0) === 0x3f /* ? */ ? query.slice(1) : query;
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf('&', start);
      if (end === -1) end = text.length;
      if (end > start) this.addPair(text.slice(start, end));
      start = end + 1;
    }
  }

  get(name: string): string | null {
    const i = this.keys.indexOf(name);
    return i === -1 ? null : this.values[i]!;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === name) out.push(this.values[i]!);
    return out;
  }

  private addPair(pair: string): void {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : pair.slice(eq + 1);
    if (!pair.includes('%') && !pair.includes('+')) {
      this.keys.push(key);
      this.values.push(value);
      return;
    }
    try {
      // Well-formed escapes of valid UTF-8 (channel=pub%3Aa): decodeURIComponent decodes them
      // as URLSearchParams does.
      this.keys.push(decode(key));
      this.values.push(decode(value));
    } catch {
      // Malformed: URLSearchParams keeps bad escapes and replaces bad UTF-8; let it.
      this.keys.length = this.values.length;
      for (const [k, v] of new URLSearchParams(pair)) {
        this.keys.push(k);
        this.values.push(v);
      }
    }
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
