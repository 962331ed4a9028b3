import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Every message by status and unit, for `tegami_messages`. The one query here that reads the
 * whole table: metrics cache its answer (TEGAMI_METRICS_CACHE_S) so scrapes do not repeat it.
 */
export async function countByStatusAndUnit(
  handle: DatabaseHandle,
): Promise<{ status: string; unitId: string; count: number }[]> {
  const { rows } = await sql<{ status: string; unit_id: string; n: number | string }>`
    select status, unit_id, count(*) as n from messages group by status, unit_id`.execute(
    handle.db,
  );
  return rows.map((r) => ({ status: r.status, unitId: r.unit_id, count: Number(r.n) }));
}
