import type { Kysely, Selectable } from 'kysely';
import type { SuppressionPosition, SuppressionStore } from '../domain/ports/suppression-store.ts';
import type {
  SuppressedRecipient,
  Suppression,
  SuppressionReason,
  SuppressionSource,
} from '../domain/suppression.ts';
import type { DatabaseHandle } from './engine/database.ts';
import type { Database, SuppressionTable } from './schema.ts';
import { chunks } from './write/insert-rows.ts';

/**
 * Addresses per look-up statement. Far above a claim batch's usual recipients, so a claim costs
 * one query; well within SQLite's and PostgreSQL's limits on bound parameters.
 */
const LOOKUP_CHUNK = 10_000;

/** The suppression list, as the API manages it. */
export class SqlSuppressionStore implements SuppressionStore {
  constructor(private readonly handle: DatabaseHandle) {}

  /** Keyset pages on the `suppressions_created` index: (created_at, email_normalized), newest first. */
  async list(filter: {
    email?: string;
    unitId?: string;
    limit: number;
    before?: SuppressionPosition;
  }) {
    let query = this.handle.db.selectFrom('suppressions').selectAll();
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

  /** Adds an address; if it is already on the list, the existing entry is kept and returned. */
  add(entry: Omit<Suppression, 'eventKey' | 'detail' | 'unitId'> & { unitId: string }): Promise<{
    created: boolean;
    suppression: Suppression;
  }> {
    return this.handle.writeTransaction(async (trx) => {
      const inserted = await trx
        .insertInto('suppressions')
        .values({
          email_normalized: entry.email.toLowerCase(),
          email: entry.email,
          reason: entry.reason,
          source: entry.source,
          event_key: null,
          detail: null,
          created_at: entry.createdAt,
          unit_id: entry.unitId,
        })
        .onConflict((oc) => oc.column('email_normalized').doNothing())
        .returning('email_normalized')
        .execute();
      const row = await trx
        .selectFrom('suppressions')
        .selectAll()
        .where('email_normalized', '=', entry.email.toLowerCase())
        .executeTakeFirstOrThrow();
      return { created: inserted.length > 0, suppression: toSuppression(row) };
    });
  }

  /**
   * Removes an address from the list; false if it was not on it. With `unitId`, only an entry
   * of that unit: another unit's entry is not there for its keys.
   */
  async remove(email: string, unitId?: string): Promise<boolean> {
    let query = this.handle.db
      .deleteFrom('suppressions')
      .where('email_normalized', '=', email.toLowerCase());
    if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function toSuppression(row: Selectable<SuppressionTable>): Suppression {
  return {
    email: row.email,
    reason: row.reason as SuppressionReason,
    source: row.source as SuppressionSource,
    eventKey: row.event_key,
    detail: row.detail,
    createdAt: Number(row.created_at),
    unitId: row.unit_id ?? null,
  };
}

/**
 * Gives suppressions that came from delivery events the unit of the message whose event it was,
 * so that unit's keys see it. Run in the ingest transaction for new entries, and by the
 * maintenance job for events matched to their message later.
 */
export async function assignSuppressionUnits(
  trx: Kysely<Database>,
  eventKeys: string[] | 'unassigned',
): Promise<void> {
  const assign = (keys: string[] | null) => {
    let update = trx
      .updateTable('suppressions')
      .set((eb) => ({
        unit_id: eb
          .selectFrom('delivery_events')
          .innerJoin('messages', 'messages.id', 'delivery_events.message_id')
          .select('messages.unit_id')
          .whereRef('delivery_events.event_key', '=', 'suppressions.event_key'),
      }))
      .where('unit_id', 'is', null)
      .where('source', '=', 'event');
    if (keys) update = update.where('event_key', 'in', keys);
    return update.execute();
  };
  if (eventKeys === 'unassigned') {
    await assign(null);
    return;
  }
  for (const part of chunks(eventKeys)) await assign(part);
}

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

/** Marks a message's suppressed recipients `suppressed`, with the reason. */
export async function markSuppressed(
  trx: Kysely<Database>,
  messageId: string,
  suppressed: SuppressedRecipient[],
  now: number,
): Promise<void> {
  const byReason = new Map<string, string[]>();
  for (const s of suppressed) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.email]);
  for (const [reason, emails] of byReason) {
    for (const part of chunks(emails)) {
      await trx
        .updateTable('recipients')
        .set({ status: 'suppressed', suppressed_reason: reason, updated_at: now })
        .where('message_id', '=', messageId)
        .where('email_normalized', 'in', part)
        .execute();
    }
  }
}
