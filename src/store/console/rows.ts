import { type ExpressionBuilder, type Selectable, sql } from 'kysely';
import type { ConsoleRole, ConsoleSession, ConsoleUser } from '../../domain/console-users.ts';
import type { ConsoleSessionTable, ConsoleUserTable, Database } from '../schema.ts';

/** A user's row, with its latest lock of a client address where that is read (see toUser). */
export type UserRow = Selectable<ConsoleUserTable> & {
  address_locked_until?: number | string | null;
};

/** The column of UserRow beside `console_users.*`: a look-up by the failures' primary key. */
export function addressLockedUntil(eb: ExpressionBuilder<Database, 'console_users'>) {
  return eb
    .selectFrom('console_sign_in_failures')
    .select(sql<number | string | null>`max(console_sign_in_failures.locked_until)`.as('until'))
    .whereRef('console_sign_in_failures.user_id', '=', 'console_users.id')
    .as('address_locked_until');
}

/** Rows of the console's tables as domain values (numbers come back as strings from pg). */
export function toUser(row: UserRow): ConsoleUser {
  return {
    id: row.id,
    email: row.email,
    role: row.role as ConsoleRole,
    unitIds: row.unit_ids === null ? null : (JSON.parse(row.unit_ids) as string[]),
    canReadBodies: Number(row.can_read_bodies) === 1,
    createdAt: Number(row.created_at),
    failedSignIns: Number(row.failed_sign_ins),
    lockedUntil: row.locked_until === null ? null : Number(row.locked_until),
    addressLockedUntil: row.address_locked_until == null ? null : Number(row.address_locked_until),
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
