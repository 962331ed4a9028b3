import type { ApiKeyRecord } from '../../domain/ports/api-key-store.ts';
import { isPriority } from '../../domain/priority.ts';

export function toApiKeyRecord(row: {
  id: string;
  name: string;
  key_prefix: string;
  created_at: number;
  revoked_at: number | null;
  unit_id: string;
  admin: number;
  default_priority: string | null;
}): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    prefix: row.key_prefix,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    unitId: row.unit_id,
    admin: Number(row.admin) === 1,
    defaultPriority: isPriority(row.default_priority) ? row.default_priority : null,
  };
}
