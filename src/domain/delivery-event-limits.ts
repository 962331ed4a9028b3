/**
 * Deepest nesting of objects and arrays in one event (the event itself is level 1). SendGrid's
 * events are flat apart from a few small arrays; a deeper event is refused on its own, because
 * storing and showing it again means JSON.stringify, which recurses and overflows the stack.
 */
export const MAX_EVENT_DEPTH = 32;

/**
 * True when `value` nests objects and arrays deeper than `maxDepth` levels (the value itself
 * being level 1). Iterative, so a 100,000-level document cannot exhaust the stack here.
 */
export function nestedDeeperThan(value: unknown, maxDepth: number): boolean {
  // Text, numbers and null nest nothing (Object.values(null) would throw).
  if (typeof value !== 'object' || value === null) return false;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (depth > maxDepth) return true;
    for (const child of Object.values(item as object)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * Events a message's read (`GET /v1/messages/{id}`, the console's message page) shows of each
 * recipient, the newest ones, and of the events matching none of its recipients together. Opens
 * and clicks repeat, and a buggy or hostile sender of events can post tens of thousands for one
 * message: the answer stays bounded, and says how many there are. All of them are read page by
 * page (`GET /v1/messages/{id}/events`).
 */
export const EVENTS_SHOWN_PER_RECIPIENT = 100;
