import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';

/** When the newest delivery event arrived (`delivery_events_received`: one index read). */
export async function lastEventAt(handle: DatabaseHandle): Promise<number | null> {
  const { rows } = await sql<{ at: number | string | null }>`
    select max(received_at) as at from delivery_events`.execute(handle.db);
  const at = rows[0]?.at;
  return at === null || at === undefined ? null : Number(at);
}
