import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units) at every level, no spaces, otherwise
 * as JSON.stringify writes it (values JSON cannot hold, such as `undefined`, are left out of
 * objects and written as null in arrays; `toJSON` is called). Two values that differ only in key
 * order give the same text: a request body a client re-serialised, a filter read back from
 * PostgreSQL's jsonb (which sorts its keys). Written iteratively, so a value nested 10,000 levels
 * deep (valid JSON) cannot overflow the stack.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  writeCanonicalJson(value, (text) => parts.push(text));
  return parts.join('');
}

/**
 * SHA-256 (hex) of `prefix` followed by `value` as canonical JSON; `undefined` (no body) adds
 * nothing to the prefix. Stored Idempotency-Keys keep these hashes: the text must never change.
 */
export function canonicalJsonHash(prefix: string, value: unknown): string {
  const hash = createHash('sha256').update(prefix);
  let chunk = '';
  writeCanonicalJson(value, (text) => {
    chunk += text;
    if (chunk.length >= 64 * 1024) {
      hash.update(chunk);
      chunk = '';
    }
  });
  hash.update(chunk);
  return hash.digest('hex');
}

/** Marks text to write as is, on the same stack as values still to serialise. */
class Literal {
  constructor(readonly text: string) {}
}

/** `value` as JSON.stringify sees it under `key`: what its `toJSON` gives, if it has one. */
function jsonValue(value: unknown, key: string): unknown {
  return value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
    ? (value as { toJSON(key: string): unknown }).toJSON(key)
    : value;
}

/** A value JSON.stringify leaves out of an object (and writes as null in an array). */
function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/** Writes `value` as canonical JSON, piece by piece, to `write`. */
function writeCanonicalJson(value: unknown, write: (text: string) => void): void {
  const stack: unknown[] = [jsonValue(value, '')];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item instanceof Literal) {
      write(item.text);
    } else if (Array.isArray(item)) {
      write('[');
      stack.push(new Literal(']'));
      for (let i = item.length - 1; i >= 0; i--) {
        const element = jsonValue(item[i], String(i));
        stack.push(isOmitted(element) ? null : element);
        if (i > 0) stack.push(new Literal(','));
      }
    } else if (item !== null && typeof item === 'object') {
      write('{');
      stack.push(new Literal('}'));
      const entries: [string, unknown][] = [];
      for (const key of Object.keys(item).sort()) {
        const child = jsonValue((item as Record<string, unknown>)[key], key);
        if (!isOmitted(child)) entries.push([key, child]);
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown];
        stack.push(child);
        stack.push(new Literal(`${i > 0 ? ',' : ''}${JSON.stringify(key)}:`));
      }
    } else {
      // Strings, numbers, booleans, null; at the top, `undefined` (no body) is written as nothing.
      write(JSON.stringify(item) ?? '');
    }
  }
}
