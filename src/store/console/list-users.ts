import type { ConsoleUser } from '../../domain/console-users.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { addressLockedUntil, toUser } from './rows.ts';

export async function listUsers(handle: DatabaseHandle): Promise<ConsoleUser[]> {
  const rows = await handle.db
    .selectFrom('console_users')
    .selectAll()
    .select(addressLockedUntil)
    .orderBy('email')
    .execute();
  return rows.map(toUser);
}

export async function countUsers(handle: DatabaseHandle): Promise<number> {
  const row = await handle.db
    .selectFrom('console_users')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
