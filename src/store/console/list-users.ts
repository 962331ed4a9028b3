import type { ConsoleUser } from '../../domain/console-users.ts';
import type { ConsoleUserPage } from '../../domain/ports/console-user-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { addressLockedUntil, toUser } from './rows.ts';

/**
 * A page of users, newest first: those created before the user `beforeId` (the console's users
 * page, `tegami users list`). Ids begin with their creation time (ids.ts), so the order is the
 * primary key's: a page is one range of it, read backwards, and needs no index of its own.
 */
export async function listUserPage(
  handle: DatabaseHandle,
  page: ConsoleUserPage,
): Promise<ConsoleUser[]> {
  let query = handle.db
    .selectFrom('console_users')
    .selectAll()
    .select(addressLockedUntil)
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.beforeId !== undefined) query = query.where('id', '<', page.beforeId);
  const rows = await query.execute();
  return rows.map(toUser);
}

export async function countUsers(handle: DatabaseHandle): Promise<number> {
  const row = await handle.db
    .selectFrom('console_users')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
