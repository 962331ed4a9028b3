import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * The provider's own words for the newest unsent message whose last attempt failed with
 * `errorClass`: the error messages it sent, else the start of its answer, else our detail.
 */
export async function errorSample(
  handle: DatabaseHandle,
  errorClass: string,
  unitId: string | null,
  failedOnly: boolean,
): Promise<string | null> {
  const unit = unitId === null ? sql`` : sql`and m.unit_id = ${unitId}`;
  // Read through the index of unsent messages only (its WHERE clause, written out, lets SQLite
  // use it). Without it SQLite walked a unit's messages newest first, sent ones too: 4.6 s with
  // 100,000 requeued among 1,000,000 (the alert evaluator asks per unit and stopped the API that
  // long); 0.08 s through the index (measured).
  const unsent = sql`(m.status = 'failed' or (m.status in ('queued', 'sending') and m.last_outcome is not null))`;
  const status = failedOnly ? sql`${unsent} and m.status = 'failed'` : unsent;
  const { rows } = await sql<{
    detail: string | null;
    response_excerpt: string | null;
    provider_errors: string | null;
  }>`select a.detail, a.response_excerpt, a.provider_errors
    from messages m${handle.dialect.indexHint('messages_unsent_summary')} join attempts a on a.message_id = m.id and a.number = m.attempt_count
    where ${status} and m.last_error_class = ${errorClass} ${unit}
    order by m.id desc limit 1`.execute(handle.db);
  const row = rows[0];
  if (!row) return null;
  return providerWords(row.provider_errors) ?? row.response_excerpt ?? row.detail ?? null;
}

function providerWords(json: string | null): string | null {
  if (!json) return null;
  try {
    const errors = JSON.parse(json) as { message?: unknown; field?: unknown }[];
    const words = errors
      .map((e) => (typeof e.message === 'string' ? e.message : null))
      .filter((m): m is string => Boolean(m));
    return words.length > 0 ? words.join('; ') : null;
  } catch {
    return null;
  }
}
