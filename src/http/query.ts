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
  return decodeURIComponent(text.includes('+') ? text.replace(/\+/g, ' ') : text);
}
