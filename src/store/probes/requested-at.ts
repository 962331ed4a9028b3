import type { DatabaseHandle } from '../engine/handle.ts';

/** When a probe of `provider` was last asked for, or null. */
export async function probeRequestedAt(
  handle: DatabaseHandle,
  provider: string,
): Promise<number | null> {
  const row = await handle.db
    .selectFrom('provider_probe_requests')
    .select('requested_at')
    .where('provider', '=', provider)
    .executeTakeFirst();
  return row ? Number(row.requested_at) : null;
}
