/**
 * YAML writes `250ms`, `30s`, `64kb`; code sees only milliseconds and bytes. This is the one
 * place the conversion happens (centrifugo's `configtypes.Duration`). Pure: no I/O, no clock.
 */

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SIZE_UNITS_BYTES = { b: 1, kb: 1_024, mb: 1_048_576, gb: 1_073_741_824 } as const;

/** setTimeout clamps larger delays to 1 ms, so a longer duration would fire at once. */
export const MAX_DURATION_MS = 2_147_483_647;

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;

/**
 * `"250ms" | "30s" | "5m" | "1h" | "1d"` → milliseconds. A bare `0` is accepted (zero needs no
 * unit); any other unit-less number is refused because `timeout: 30` is ambiguous.
 * Returns null when the text is not a whole number of milliseconds.
 */
export function parseDuration(value: string | number): number | null {
  if (value === 0 || value === '0') return 0;
  if (typeof value !== 'string') return null;
  const m = DURATION_RE.exec(value.trim());
  if (m === null) return null;
  const ms = Number(m[1]) * DURATION_UNITS_MS[m[2] as keyof typeof DURATION_UNITS_MS];
  return Number.isSafeInteger(ms) ? ms : null;
}

/** `512 | "512" | "64kb" | "1mb" | "1.5mb"` → bytes (1 kb = 1024 bytes). Null unless a whole byte count. */
export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const m = SIZE_RE.exec(value.trim());
  if (m === null) return null;
  const unit = (m[2] ?? 'b').toLowerCase() as keyof typeof SIZE_UNITS_BYTES;
  const bytes = Number(m[1]) * SIZE_UNITS_BYTES[unit];
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** Milliseconds → the largest unit that expresses them exactly (`300000` → `5m`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS_MS[unit];
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Bytes → the largest unit that expresses them exactly (`65536` → `64kb`). */
export function formatSize(bytes: number): string {
  for (const unit of ['gb', 'mb', 'kb'] as const) {
    const size = SIZE_UNITS_BYTES[unit];
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
