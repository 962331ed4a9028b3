import type { ConsoleSession } from '../../domain/console-users.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toSession } from './rows.ts';

export async function findSession(
  handle: DatabaseHandle,
  hash: string,
): Promise<ConsoleSession | null> {
  const row = await handle.db
    .selectFrom('console_sessions')
    .selectAll()
    .where('token_hash', '=', hash)
    .executeTakeFirst();
  return row ? toSession(row) : null;
}
