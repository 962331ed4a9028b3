import type { ConsoleUser } from '../../domain/console-users.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toUser } from './rows.ts';

/** `email` already lower-cased. */
export async function findUserByEmail(
  handle: DatabaseHandle,
  email: string,
): Promise<(ConsoleUser & { passwordHash: string }) | null> {
  const row = await handle.db
    .selectFrom('console_users')
    .selectAll()
    .where('email', '=', email)
    .executeTakeFirst();
  return row ? { ...toUser(row), passwordHash: row.password_hash } : null;
}
