import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Accepted after `after` (the newest delivery event) and at or after `since`, with no delivery
 * event yet: how much mail went out into silence, and since when (`messages_unconfirmed`).
 */
export async function acceptedUnconfirmedAfter(
  handle: DatabaseHandle,
  after: number,
  since: number,
): Promise<{ count: number; first: number | null }> {
  const { rows } = await sql<{ n: number | string; first: number | string | null }>`
    select count(*) as n, min(sent_at) as first
    from messages ${handle.dialect.indexHint('messages_unconfirmed')}
    where status = 'sent' and confirmed_at is null and sent_at > ${after}
      and sent_at >= ${since}`.execute(handle.db);
  const row = rows[0];
  return {
    count: Number(row?.n ?? 0),
    first: row?.first === null || row?.first === undefined ? null : Number(row.first),
  };
}
