import type { SuppressionPosition } from '../../domain/ports/suppression-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toSuppression } from './rows.ts';

/** Keyset pages on the `suppressions_created` index: (created_at, email_normalized), newest first. */
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
  if (filter.unitId !== undefined) query = query.where('unit_id', '=', filter.unitId);
  const { before } = filter;
  if (before) {
    query = query.where((eb) =>
      eb(
        eb.refTuple('created_at', 'email_normalized'),
        '<',
        eb.tuple(before.createdAt, before.emailNormalized),
      ),
    );
  }
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('email_normalized', 'desc')
    .limit(filter.limit + 1)
    .execute();
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
        }
      : null;
  return { entries: page.map(toSuppression), next };
}
