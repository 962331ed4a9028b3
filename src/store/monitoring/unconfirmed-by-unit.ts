import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';

/** Accepted in [since, before) and no delivery event yet, per unit (`messages_unconfirmed`). */
export async function unconfirmedByUnit(
  handle: DatabaseHandle,
  since: number,
  before: number,
): Promise<Map<string, number>> {
  const { rows } = await sql<{ unit_id: string; n: number | string }>`
    select unit_id, count(*) as n from messages ${handle.dialect.indexHint('messages_unconfirmed')}
    where status = 'sent' and confirmed_at is null and sent_at < ${before} and sent_at >= ${since}
    group by unit_id`.execute(handle.db);
  return new Map(rows.map((r) => [r.unit_id, Number(r.n)]));
}
