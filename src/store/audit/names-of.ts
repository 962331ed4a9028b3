import type { AuditNames } from '../../domain/operations/audit.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/** The keys and console users an audit log page is about, by id: two queries at most. */
export async function auditNamesOf(
  handle: DatabaseHandle,
  ids: { keys: string[]; users: string[] },
): Promise<Pick<AuditNames, 'keys' | 'users'>> {
  const keyIds = [...new Set(ids.keys)];
  const userIds = [...new Set(ids.users)];
  const [keys, users] = await Promise.all([
    keyIds.length === 0
      ? []
      : handle.db
          .selectFrom('api_keys')
          .select(['id', 'name', 'unit_id', 'admin'])
          .where('id', 'in', keyIds)
          .execute(),
    userIds.length === 0
      ? []
      : handle.db
          .selectFrom('console_users')
          .select(['id', 'email'])
          .where('id', 'in', userIds)
          .execute(),
  ]);
  return {
    keys: new Map(
      keys.map((k) => [k.id, { name: k.name, unitId: k.unit_id, admin: Number(k.admin) === 1 }]),
    ),
    users: new Map(users.map((u) => [u.id, u.email])),
  };
}
