/**
 * Total conversions from stored values to what the API shows. A read endpoint must answer
 * whatever a row holds: a value edited by hand, written by an older version, or out of any
 * sensible range (an event time of year 30,000). Each function here accepts anything and returns
 * a value of the shape the response schema promises, so no stored value can make a read fail.
 */

/** The range of a JavaScript Date: beyond it `toISOString()` throws. */
const LATEST_DATE_MS = 8.64e15;

function timeNumber(value: unknown): number | null {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'bigint') ms = Number(value);
  else if (typeof value === 'string' && value.trim() !== '') ms = Number(value);
  else return null;
  if (Number.isNaN(ms)) return null;
  // Out of range times (±Infinity included) are shown as the nearest time a Date can hold.
  return Math.min(Math.max(Math.trunc(ms), -LATEST_DATE_MS), LATEST_DATE_MS);
}

/** Epoch milliseconds as ISO 8601; null for null or a value that is not a time at all. */
export function isoTimeOrNull(value: unknown): string | null {
  const ms = timeNumber(value);
  return ms === null ? null : new Date(ms).toISOString();
}

/** For times the schema requires: a value that is not a time at all shows as the epoch. */
export function isoTime(value: unknown): string {
  return isoTimeOrNull(value) ?? new Date(0).toISOString();
}

export function textOrNull(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  return null;
}

export function text(value: unknown, fallback = ''): string {
  return textOrNull(value) ?? fallback;
}

/** A finite number as a safe integer; null otherwise. */
export function integerOrNull(value: unknown): number | null {
  const n =
    typeof value === 'number' || typeof value === 'bigint'
      ? Number(value)
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : Number.NaN;
  if (!Number.isFinite(n)) return null;
  return Math.min(Math.max(Math.trunc(n), Number.MIN_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

export function integer(value: unknown, fallback = 0): number {
  return integerOrNull(value) ?? fallback;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object's string values (others are left out); anything else is an empty map. */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isPlainObject(value)) return out;
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === 'string') out[key] = item;
  }
  return out;
}

/** An array's strings (others are left out); anything else is an empty array. */
export function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

export function objectArray(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isPlainObject) : [];
}
