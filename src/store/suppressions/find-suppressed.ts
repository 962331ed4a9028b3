import type { Kysely } from 'kysely';
import type { SuppressionReason } from '../../domain/suppression.ts';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Addresses per look-up statement. Far above a claim batch's usual recipients, so a claim costs
 * one query; well within SQLite's and PostgreSQL's limits on bound parameters.
 */
const LOOKUP_CHUNK = 10_000;

/** Which of these lower-cased addresses are suppressed, and why: one query for a whole batch. */
export async function findSuppressed(
  trx: Kysely<Database>,
  emails: string[],
): Promise<Map<string, SuppressionReason>> {
  const found = new Map<string, SuppressionReason>();
  for (const part of chunks(emails, LOOKUP_CHUNK)) {
    const rows = await trx
      .selectFrom('suppressions')
      .select(['email_normalized', 'reason'])
      .where('email_normalized', 'in', part)
      .execute();
    for (const r of rows) found.set(r.email_normalized, r.reason as SuppressionReason);
  }
  return found;
}
