/**
 * A count and its noun as people read them: "1 message", "2 messages", "1,889 messages". The one
 * helper for count phrases in the console and in alert texts, so that none says "1 unsent
 * messages" or "message(s)". `plural` is given where adding an `s` is wrong ("1 entry", "2
 * entries"), and may be a whole phrase that agrees with the count ("1 message matches", "2
 * messages match").
 */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString('en')} ${oneOrMany(n, singular, plural)}`;
}

/** The word that agrees with `n` ("is" or "are", "matches" or "match"), without the number. */
export function oneOrMany(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}
