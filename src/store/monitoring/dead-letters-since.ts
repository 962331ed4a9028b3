import { sql } from 'kysely';
import type { DeadLetterGroup } from '../../domain/ports/monitoring-queries.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Messages dead-lettered at or after `since`, from the `messages_failed_at` partial index alone
 * (its first column is `failed_at`, so the first failure of each group costs nothing more).
 */
export async function deadLettersSince(
  handle: DatabaseHandle,
  since: number,
): Promise<DeadLetterGroup[]> {
  const { rows } = await sql<{
    unit_id: string;
    last_error_class: string | null;
    last_provider_fault: string | null;
    n: number | string;
    first_failed_at: number | string;
  }>`select unit_id, last_error_class, last_provider_fault, count(*) as n,
      min(failed_at) as first_failed_at
    from messages ${handle.dialect.indexHint('messages_failed_at')}
    where status = 'failed' and failed_at >= ${since}
    group by unit_id, last_error_class, last_provider_fault`.execute(handle.db);
  return rows.map((r) => ({
    unitId: r.unit_id,
    errorClass: r.last_error_class,
    providerFault: r.last_provider_fault,
    count: Number(r.n),
    firstFailedAt: Number(r.first_failed_at),
  }));
}
