import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * The unit (id and name) of each message, read in the caller's transaction: on SQLite a query
 * through another handle would wait for the transaction's own connection.
 */
export async function unitsOfMessages(
  trx: Kysely<Database>,
  messageIds: string[],
): Promise<Map<string, { id: string; name: string }>> {
  const units = new Map<string, { id: string; name: string }>();
  for (const part of chunks([...new Set(messageIds)])) {
    const rows = await trx
      .selectFrom('messages')
      .innerJoin('units', 'units.id', 'messages.unit_id')
      .select(['messages.id as message_id', 'units.id as unit_id', 'units.name as unit_name'])
      .where('messages.id', 'in', part)
      .execute();
    for (const r of rows) units.set(r.message_id, { id: r.unit_id, name: r.unit_name });
  }
  return units;
}
