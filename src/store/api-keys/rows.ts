import type { ApiKeyRecord } from '../../domain/ports/api-key-store.ts';

export function toApiKeyRecord(row: {
  id: string;
  name: string;
  key_prefix: string;
  created_at: number;
  revoked_at: number | null;
  unit_id: string;
  admin: number;
}): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    prefix: row.key_prefix,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    unitId: row.unit_id,
    admin: Number(row.admin) === 1,
  };
}
