import { type ExpressionBuilder, sql } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * How many characters of a metadata value PostgreSQL's look-up index holds (migration
 * 017-metadata-lookup, which must say the same): an index entry may not exceed ~2.7 kB there.
 */
export const METADATA_VALUE_PREFIX = 200;

/**
 * The look-up entries equal to `key` = `value`. The prefix is compared so that PostgreSQL can use
 * its index (the index's own expression); the whole value decides. SQLite's index holds the
 * whole value (key, value, message_id), and the prefix is only a filter there.
 */
export function metadataEntryIs(
  eb: ExpressionBuilder<Database, 'message_metadata'>,
  key: string,
  value: string,
) {
  return eb.and([
    eb('message_metadata.key', '=', key),
    eb(
      sql`substr(message_metadata.value, 1, ${sql.lit(METADATA_VALUE_PREFIX)})`,
      '=',
      sql`substr(${value}, 1, ${sql.lit(METADATA_VALUE_PREFIX)})`,
    ),
    eb('message_metadata.value', '=', value),
  ]);
}
