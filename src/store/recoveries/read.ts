import type { Kysely } from 'kysely';
import type { RecoveryRecord } from '../../domain/operations/recovery.ts';
import type { Dialect } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { toRecovery } from './rows.ts';

/**
 * One recovery, in the caller's transaction when it has one. With `lock` (PostgreSQL), the row
 * is held until that transaction ends, so two processes cannot both change it from what they read.
 */
export async function readRecovery(
  db: Kysely<Database>,
  dialect: Dialect,
  id: string,
  lock = false,
): Promise<RecoveryRecord | null> {
  let query = db.selectFrom('recoveries').selectAll().where('id', '=', id);
  if (lock) query = dialect.lockRowsForUpdate(query);
  const row = await query.executeTakeFirst();
  return row ? toRecovery(row) : null;
}
