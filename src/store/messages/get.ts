import type { MessageRecord } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { findUnitById } from '../units/find.ts';
import { toMessageRecord } from './rows.ts';

/** One message with its recipients and attempts; with `unitId`, only if it is that unit's. */
export async function getMessage(
  handle: DatabaseHandle,
  id: string,
  unitId?: string,
): Promise<MessageRecord | null> {
  // One snapshot: a result committed between the reads would otherwise show a message still
  // `sending` beside the attempt that ended it.
  const read = await handle.readSnapshot(async (db) => {
    let query = db.selectFrom('messages').selectAll().where('id', '=', id);
    if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
    const row = await query.executeTakeFirst();
    if (!row) return null;
    const recipients = await db
      .selectFrom('recipients')
      .selectAll()
      .where('message_id', '=', id)
      .orderBy('position')
      .execute();
    const attempts = await db
      .selectFrom('attempts')
      .selectAll()
      .where('message_id', '=', id)
      .orderBy('number')
      .execute();
    return { row, recipients, attempts };
  });
  if (!read) return null;
  // Outside the snapshot: on SQLite it holds the one connection, which this lookup would wait for.
  const unit = await findUnitById(handle, read.row.unit_id);
  return toMessageRecord(read.row, unit?.name ?? read.row.unit_id, read.recipients, read.attempts);
}
