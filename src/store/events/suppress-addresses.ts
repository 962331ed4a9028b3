import type { Kysely } from 'kysely';
import { suppressionReasonOf } from '../../domain/suppression.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import type { Database, SuppressionTable } from '../schema.ts';
import { ENTRY_KEY } from '../suppressions/rows.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Puts the addresses of new hard bounces, spam reports and unsubscribes (and blocks, if so
 * configured) on the suppression list: as an entry of the unit whose message the event is about,
 * or of no unit when it is not matched to a message (it gets the unit if it is matched later:
 * assign-units.ts). A unit (or, for unmatched events, the list) that has an entry for the address
 * already keeps it, with its first reason; other units' entries do not count.
 */
export async function suppressAddresses(
  trx: Kysely<Database>,
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
  const rows = new Map<string, SuppressionTable>();
  // Within one batch too, the earliest event gives the reason.
  suppressing.sort((a, b) => a.e.occurredAt - b.e.occurredAt);
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
      detail: suppressionDetail(detail),
      created_at: now,
      unit_id: unitId,
    });
  }
  for (const part of chunks([...rows.values()], 1_000)) {
    await trx
      .insertInto('suppressions')
      .values(part)
      .onConflict((oc) => oc.expression(ENTRY_KEY).doNothing())
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
