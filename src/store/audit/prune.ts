import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes up to `limit` audit events older than `before`, oldest first; returns how many. */
export function pruneAuditEvents(
  handle: DatabaseHandle,
  before: number,
  limit: number,
): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    const rows = await trx
      .selectFrom('audit_events')
      .select('id')
      .where('at', '<', before)
      .orderBy('id')
      .limit(limit)
      .execute();
    if (rows.length === 0) return 0;
    await trx
      .deleteFrom('audit_events')
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    return rows.length;
  });
}
