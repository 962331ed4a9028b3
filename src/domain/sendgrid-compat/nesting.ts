import type { SendGridError } from './errors.ts';

/**
 * How deep a request may nest objects and arrays. SendGrid's own fields nest 4 levels; the free
 * ones (`dynamic_template_data`, unknown fields forwarded as sent) get room for real template
 * data. The limit keeps every later step bounded: storing the request as JSON, forwarding it,
 * and showing it, none of which may fail on a request already answered 202 (a body nested
 * 100,000 levels fits in 30 MB and overflows JSON.stringify's stack).
 */
export const MAX_NESTING = 32;

/** The first place where `body` nests deeper than MAX_NESTING, as SendGrid's error; walked iteratively. */
export function nestingProblem(body: unknown): SendGridError | null {
  const pending: { value: unknown; depth: number; path: string }[] = [
    { value: body, depth: 0, path: '' },
  ];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const { value, depth, path } = item;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_NESTING) {
      return {
        message: `The request nests objects or arrays more than ${MAX_NESTING} levels deep.`,
        field: path.split('.').slice(0, 3).join('.') || null,
        help: null,
      };
    }
    for (const [key, child] of Object.entries(value)) {
      pending.push({ value: child, depth: depth + 1, path: path ? `${path}.${key}` : key });
    }
  }
  return null;
}
