import type { ConsoleUser } from '../../domain/console-users.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { addressLockedUntil, toUser } from './rows.ts';

export async function findUser(handle: DatabaseHandle, id: string): Promise<ConsoleUser | null> {
  const row = await handle.db
    .selectFrom('console_users')
    .selectAll()
    .select(addressLockedUntil)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toUser(row) : null;
}
