import type { Kysely } from 'kysely';
import type { SuppressionHit, SuppressionReason } from '../../domain/suppression.ts';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Addresses per look-up statement. Far above a claim batch's usual recipients, so a claim costs
 * one query; well within SQLite's and PostgreSQL's limits on bound parameters.
 */
const LOOKUP_CHUNK = 10_000;

/**
 * Which of these lower-cased addresses are on the list, with every entry for each (one per unit
 * that has one, and one of no unit): one query for a whole batch. Any entry suppresses the
 * address for every unit's mail; `suppressionReasonFor` says which reason a unit's mail gets.
 */
export async function findSuppressed(
  trx: Kysely<Database>,
  emails: string[],
): Promise<Map<string, SuppressionHit[]>> {
  const found = new Map<string, SuppressionHit[]>();
  for (const part of chunks(emails, LOOKUP_CHUNK)) {
    const rows = await trx
      .selectFrom('suppressions')
      .select(['email_normalized', 'reason', 'unit_id', 'created_at'])
      .where('email_normalized', 'in', part)
      .execute();
    for (const r of rows) {
      const hits = found.get(r.email_normalized) ?? [];
      hits.push({
        unitId: r.unit_id ?? null,
        reason: r.reason as SuppressionReason,
        createdAt: Number(r.created_at),
      });
      found.set(r.email_normalized, hits);
    }
  }
  return found;
}
