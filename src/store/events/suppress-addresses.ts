import type { Insertable, Kysely } from 'kysely';
import { compareSuppressionEvents, suppressionReasonOf } from '../../domain/suppression.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import type { Dialect } from '../engine/handle.ts';
import type { Database, SuppressionTable } from '../schema.ts';
import { ENTRY_KEY, takenOverBy } from '../suppressions/rows.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Puts the addresses of new hard bounces, spam reports and unsubscribes (and blocks, if so
 * configured) on the suppression list: as an entry of the unit whose message the event is about,
 * or of no unit when it is not matched to a message (it gets the unit if it is matched later:
 * assign-units.ts). Other units' entries do not count.
 *
 * An entry made by events is the earliest event's (`compareSuppressionEvents`): its reason, key,
 * detail and address, whatever order the events arrive in. Within the batch the earliest of each
 * entry's events is picked here; against the entry already stored, the upsert compares it with
 * the stored event's time and key, in the same statement that writes it, so two API processes
 * ingesting at once on PostgreSQL cannot both read an entry and write over each other's choice.
 * The entry keeps `created_at`, since when the address is suppressed. An entry added by hand is
 * never changed by events; an entry removed is gone, and the next new event makes a new one.
 */
export async function suppressAddresses(
  trx: Kysely<Database>,
  dialect: Dialect,
  events: { event: DeliveryEvent; messageId: string | null }[],
  suppressBlocks: boolean,
  now: number,
) {
  const suppressing = events.flatMap(({ event, messageId }) => {
    const reason = suppressionReasonOf(event, suppressBlocks);
    return reason ? [{ e: event, messageId, reason }] : [];
  });
  if (suppressing.length === 0) return;
  const unitOf = await unitsOfMessages(trx, suppressing);
  const rows = new Map<string, Insertable<SuppressionTable>>();
  suppressing.sort((a, b) => compareSuppressionEvents(a.e, b.e));
  for (const { e, messageId, reason } of suppressing) {
    const normalized = e.email.toLowerCase();
    const unitId = (messageId && unitOf.get(messageId)) || null;
    const entry = `${unitId ?? ''}\u0000${normalized}`;
    if (rows.has(entry)) continue;
    const detail = e.raw.reason;
    rows.set(entry, {
      email_normalized: normalized,
      email: e.email,
      reason,
      source: 'event',
      event_key: e.key,
      event_occurred_at: e.occurredAt,
      detail: suppressionDetail(detail),
      created_at: now,
      unit_id: unitId,
    });
  }
  // Entries in one order (their key's): two transactions upserting some of the same entries on
  // PostgreSQL then lock those rows in the same order, and cannot each hold a row the other waits
  // for (a deadlock, one batch refused).
  const ordered = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const part of chunks(
    ordered.map(([, row]) => row),
    1_000,
  )) {
    await trx
      .insertInto('suppressions')
      .values(part)
      .onConflict((oc) =>
        oc
          .expression(ENTRY_KEY)
          .doUpdateSet((eb) => ({
            email: eb.ref('excluded.email'),
            reason: eb.ref('excluded.reason'),
            event_key: eb.ref('excluded.event_key'),
            event_occurred_at: eb.ref('excluded.event_occurred_at'),
            detail: eb.ref('excluded.detail'),
          }))
          .where(takenOverBy(dialect, 'suppressions', 'excluded')),
      )
      .execute();
  }
}

/**
 * What a suppression shows of the event's `reason`: a mail server's answer is a line or two, but
 * an event may carry megabytes (a drill's 2 MB reason was copied whole into the entry and into
 * every page of the list). The event keeps it all; the entry keeps the first
 * SUPPRESSION_DETAIL_CHARS.
 */
const SUPPRESSION_DETAIL_CHARS = 1_000;

function suppressionDetail(reason: unknown): string | null {
  if (typeof reason !== 'string' || reason === '') return null;
  // PostgreSQL text cannot hold NUL; the reason is for people, so it is shown without.
  const text = reason.replaceAll('\u0000', '');
  if (text.length <= SUPPRESSION_DETAIL_CHARS) return text;
  let end = SUPPRESSION_DETAIL_CHARS - 1;
  // Not between the halves of a surrogate pair: PostgreSQL refuses a lone half.
  if (/[\uD800-\uDBFF]/.test(text[end - 1] ?? '')) end--;
  return `${text.slice(0, end)}…`;
}

/** The unit of each matched message, for the events that may suppress an address. */
async function unitsOfMessages(
  trx: Kysely<Database>,
  events: { messageId: string | null }[],
): Promise<Map<string, string>> {
  const ids = [...new Set(events.flatMap((e) => (e.messageId ? [e.messageId] : [])))];
  const units = new Map<string, string>();
  for (const part of chunks(ids)) {
    const rows = await trx
      .selectFrom('messages')
      .select(['id', 'unit_id'])
      .where('id', 'in', part)
      .execute();
    for (const r of rows) units.set(r.id, r.unit_id);
  }
  return units;
}
