import { sql } from 'kysely';
import type { PendingGroup } from '../../domain/ports/monitoring-queries.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { messageDueSince } from '../messages/columns.ts';

/**
 * Messages not yet accepted by a provider: queued (new or retrying), sending, and scheduled ones
 * whose time has come. Read from the `messages_claim` partial index, which holds only these rows:
 * the condition repeats the index's own, which SQLite needs to use it.
 */
export async function pendingMessages(
  handle: DatabaseHandle,
  now: number,
): Promise<PendingGroup[]> {
  const { rows } = await sql<{
    unit_id: string;
    last_error_class: string | null;
    last_outcome: string | null;
    last_provider_fault: string | null;
    n: number | string;
    oldest: number | string;
  }>`select unit_id, last_error_class, last_outcome, last_provider_fault, count(*) as n,
      min(${messageDueSince}) as oldest
    from messages ${handle.dialect.indexHint('messages_claim')}
    where status in ('queued', 'scheduled', 'sending')
      and (status <> 'scheduled' or next_attempt_at <= ${now})
    group by unit_id, last_error_class, last_outcome, last_provider_fault`.execute(handle.db);
  return rows.map((r) => ({
    unitId: r.unit_id,
    lastErrorClass: r.last_error_class,
    lastOutcome: r.last_outcome,
    lastProviderFault: r.last_provider_fault,
    count: Number(r.n),
    oldestSince: Number(r.oldest),
  }));
}
