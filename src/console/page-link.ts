import { type IdPrefix, isIdOf } from '../domain/ids.ts';
import { ConsoleError } from './session.ts';

/**
 * The cursor of a list's "Older …" link (`before` or `older`): the id of the last row of the page
 * before, or undefined on the first page (absent or empty). A value no link of the page made is
 * refused with 400 and `That page of WHAT does not exist.`: passed on, it would find nothing, or
 * some other slice, and an empty page reads as the end of the list. Only the id's shape is
 * checked, so a row deleted since (retention) still names a place in the list.
 */
export function olderThanCursor(
  value: string | undefined,
  prefix: IdPrefix,
  what: string,
): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isIdOf(prefix, value)) {
    throw new ConsoleError(400, `That page of ${what} does not exist.`);
  }
  return value;
}
