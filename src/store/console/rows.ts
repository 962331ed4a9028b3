import type { Selectable } from 'kysely';
import type { ConsoleRole, ConsoleSession, ConsoleUser } from '../../domain/console-users.ts';
import type { ConsoleSessionTable, ConsoleUserTable } from '../schema.ts';

/** Rows of the console's tables as domain values (numbers come back as strings from pg). */
export function toUser(row: Selectable<ConsoleUserTable>): ConsoleUser {
  return {
    id: row.id,
    email: row.email,
    role: row.role as ConsoleRole,
    unitIds: row.unit_ids === null ? null : (JSON.parse(row.unit_ids) as string[]),
    canReadBodies: Number(row.can_read_bodies) === 1,
    createdAt: Number(row.created_at),
    failedSignIns: Number(row.failed_sign_ins),
    lockedUntil: row.locked_until === null ? null : Number(row.locked_until),
    disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
  };
}

export function toSession(row: Selectable<ConsoleSessionTable>): ConsoleSession {
  return {
    hash: row.token_hash,
    userId: row.user_id,
    csrfToken: row.csrf_token,
    unitId: row.unit_id,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
  };
}
