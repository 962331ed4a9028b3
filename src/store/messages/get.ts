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
  const db = handle.db;
  let query = db.selectFrom('messages').selectAll().where('id', '=', id);
  if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
  const row = await query.executeTakeFirst();
  if (!row) return null;
  const [recipients, attempts, unit] = await Promise.all([
    db
      .selectFrom('recipients')
      .selectAll()
      .where('message_id', '=', id)
      .orderBy('position')
      .execute(),
    db.selectFrom('attempts').selectAll().where('message_id', '=', id).orderBy('number').execute(),
    findUnitById(handle, row.unit_id),
  ]);
  return toMessageRecord(row, unit?.name ?? row.unit_id, recipients, attempts);
}
