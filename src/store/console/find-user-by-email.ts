import type { ConsoleUserToCheck } from '../../domain/ports/console-user-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { addressLockedUntil, toUser } from './rows.ts';

/** `email` already lower-cased. */
export async function findUserByEmail(
  handle: DatabaseHandle,
  email: string,
): Promise<ConsoleUserToCheck | null> {
  const row = await handle.db
    .selectFrom('console_users')
    .selectAll()
    .select(addressLockedUntil)
    .where('email', '=', email)
    .executeTakeFirst();
  return row
    ? { ...toUser(row), passwordHash: row.password_hash, signOuts: Number(row.sign_outs) }
    : null;
}
