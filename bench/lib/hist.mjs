/**
 * Log-linear latency histogram in the HdrHistogram style: exact below 64 µs, then 64
 * sub-buckets per power of two (≤ 1.6 % relative error) up to 2^31 µs. Counts are a plain
 * array so worker processes can ship them over IPC and the parent can add them up.
 */

const SUB = 64;
const SUB_BITS = 6;
const MAX_EXP = 31;
export const BUCKETS = SUB + (MAX_EXP - SUB_BITS) * SUB;

export function bucketOf(v) {
  if (v < SUB) return v < 0 ? 0 : Math.floor(v);
  if (v >= 2 ** MAX_EXP) return BUCKETS - 1;
  const x = Math.floor(v);
  const e = 31 - Math.clz32(x);
  return SUB + (e - SUB_BITS) * SUB + ((x >>> (e - SUB_BITS)) - SUB);
}

/** Upper bound of a bucket (what a percentile reports: never flatters). */
export function bucketValue(i) {
  if (i < SUB) return i;
  const e = Math.floor((i - SUB) / SUB) + SUB_BITS;
  const sub = (i - SUB) % SUB + SUB;
  return ((sub + 1) * 2 ** (e - SUB_BITS)) - 1;
}

export class Histogram {
  constructor(counts) {
    this.counts = counts ? Float64Array.from(counts) : new Float64Array(BUCKETS);
    this.total = 0;
    this.max = 0;
    if (counts) for (const c of counts) this.total += c;
  }

  record(v) {
    this.counts[bucketOf(v)]++;
    this.total++;
    if (v > this.max) this.max = v;
  }

  add(other) {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    if (other.max > this.max) this.max = other.max;
  }

  percentile(p) {
    if (this.total === 0) return null;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(bucketValue(i), this.max);
    }
    return this.max;
  }

  toJSON() {
    return { counts: Array.from(this.counts), total: this.total, max: this.max };
  }

  static from(json) {
    const h = new Histogram(json.counts);
    h.total = json.total;
    h.max = json.max;
    return h;
  }

  /** Summary in milliseconds, the unit the tables use. */
  summary() {
    const ms = (v) => (v === null ? null : Math.round(v) / 1000);
    return {
      count: this.total,
      p50: ms(this.percentile(50)),
      p90: ms(this.percentile(90)),
      p99: ms(this.percentile(99)),
      p999: ms(this.percentile(99.9)),
      max: ms(this.total ? this.max : null),
    };
  }
}
