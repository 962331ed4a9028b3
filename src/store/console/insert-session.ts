import type { ConsoleSession } from '../../domain/console-users.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

export async function insertSession(handle: DatabaseHandle, s: ConsoleSession): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .insertInto('console_sessions')
      .values({
        token_hash: s.hash,
        user_id: s.userId,
        csrf_token: s.csrfToken,
        unit_id: s.unitId,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
      })
      .execute(),
  );
}
