import type { Kysely } from 'kysely';
import { suppressionReasonOf } from '../../domain/suppression.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import type { Database, SuppressionTable } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Puts the addresses of new hard bounces, spam reports and unsubscribes (and blocks, if so
 * configured) on the suppression list, matched to a message or not. An address already on it
 * keeps its first reason.
 */
export async function suppressAddresses(
  trx: Kysely<Database>,
  events: DeliveryEvent[],
  suppressBlocks: boolean,
  now: number,
) {
  const rows = new Map<string, SuppressionTable>();
  // Within one batch too, the earliest event gives the reason.
  const ordered = [...events].sort((a, b) => a.occurredAt - b.occurredAt);
  for (const e of ordered) {
    const reason = suppressionReasonOf(e, suppressBlocks);
    const normalized = e.email.toLowerCase();
    if (!reason || rows.has(normalized)) continue;
    const detail = e.raw.reason;
    rows.set(normalized, {
      email_normalized: normalized,
      email: e.email,
      reason,
      source: 'event',
      event_key: e.key,
      // PostgreSQL text cannot hold NUL; the reason is for people, so it is shown without.
      detail: typeof detail === 'string' && detail !== '' ? detail.replaceAll('\u0000', '') : null,
      created_at: now,
      unit_id: null,
    });
  }
  for (const part of chunks([...rows.values()], 1_000)) {
    await trx
      .insertInto('suppressions')
      .values(part)
      .onConflict((oc) => oc.column('email_normalized').doNothing())
      .execute();
  }
}
