import type { SuppressionPosition } from '../../domain/ports/suppression-store.ts';
import type { Suppression } from '../../domain/suppression.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toSuppression, UNIT_KEY } from './rows.ts';

/**
 * Keyset pages, newest first. All units: on the `suppressions_created` index, (created_at,
 * email_normalized, unit or ''), since entries of several units may share an address and a time.
 * One unit: on `suppressions_unit`, (unit_id, created_at, email_normalized), unique within a unit.
 */
export async function listSuppressions(
  handle: DatabaseHandle,
  filter: {
    email?: string;
    unitId?: string;
    limit: number;
    before?: SuppressionPosition;
  },
) {
  let query = handle.db.selectFrom('suppressions').selectAll();
  if (filter.email !== undefined)
    query = query.where('email_normalized', '=', filter.email.toLowerCase());
  const { before, unitId } = filter;
  if (unitId !== undefined) {
    query = query.where('unit_id', '=', unitId);
    if (before) {
      query = query.where((eb) =>
        eb(
          eb.refTuple('created_at', 'email_normalized'),
          '<',
          eb.tuple(before.createdAt, before.emailNormalized),
        ),
      );
    }
    query = query.orderBy('created_at', 'desc').orderBy('email_normalized', 'desc');
  } else {
    if (before) {
      query = query.where((eb) =>
        eb(
          eb.refTuple('created_at', 'email_normalized', UNIT_KEY),
          '<',
          eb.tuple(before.createdAt, before.emailNormalized, before.unitKey),
        ),
      );
    }
    query = query
      .orderBy('created_at', 'desc')
      .orderBy('email_normalized', 'desc')
      .orderBy(UNIT_KEY, 'desc');
  }
  const rows = await query.limit(filter.limit + 1).execute();
  const page = rows.slice(0, filter.limit);
  const last = page[page.length - 1];
  const next: SuppressionPosition | null =
    rows.length > filter.limit && last
      ? {
          // A time that is not a number (a hand-edited SQLite row) sorts above all numbers
          // there: continue with the numeric ones rather than fail.
          createdAt: Number.isFinite(Number(last.created_at))
            ? Number(last.created_at)
            : Number.MAX_SAFE_INTEGER,
          emailNormalized: String(last.email_normalized),
          unitKey: last.unit_id ?? '',
        }
      : null;
  return { entries: await withMessageIds(handle, page.map(toSuppression)), next };
}

/** Each entry's source message: one look-up of the entries' events by their keys. */
export async function withMessageIds(
  handle: DatabaseHandle,
  entries: Suppression[],
): Promise<Suppression[]> {
  const keys = entries.flatMap((e) => (e.eventKey ? [e.eventKey] : []));
  const messageOf = new Map<string, string | null>();
  if (keys.length > 0) {
    const rows = await handle.db
      .selectFrom('delivery_events')
      .select(['event_key', 'message_id'])
      .where('event_key', 'in', keys)
      .execute();
    for (const r of rows) messageOf.set(r.event_key, r.message_id);
  }
  return entries.map((e) => ({
    ...e,
    messageId: e.eventKey ? (messageOf.get(e.eventKey) ?? null) : null,
  }));
}
