/**
 * A JSON column's value, or undefined when the column does not hold JSON (edited by hand, or
 * written by something else). Reads must not fail on one bad row: the API shows what it can
 * (see api/present-values.ts) instead of answering 500 for the whole page.
 */
export function readJson(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
