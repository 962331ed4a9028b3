import { type ExpressionBuilder, sql } from 'kysely';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { NewRecovery } from '../../domain/operations/ports.ts';
import { type RecoveryRecord, recoveryFinishEvent } from '../../domain/operations/recovery.ts';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import {
  conditionContext,
  messageConditions,
  messagesTable,
  unsentParts,
} from '../messages/conditions.ts';
import type { Database } from '../schema.ts';
import { readRecovery } from './read.ts';

/**
 * Starts a recovery: stores it and its fixed set of messages (those `filter` matches now), and
 * records `audit`, in one transaction.
 */
export async function startRecovery(
  handle: DatabaseHandle,
  recovery: NewRecovery,
  filter: MessageFilter,
  audit: AuditEvent,
): Promise<RecoveryRecord> {
  const context = await conditionContext(handle, filter);
  return handle.writeTransaction(async (trx) => {
    const now = recovery.createdAt;
    await trx
      .insertInto('recoveries')
      .values({
        id: recovery.id,
        unit_id: recovery.unitId,
        action: recovery.action,
        filter: JSON.stringify(recovery.filter),
        rate_per_s: recovery.ratePerS,
        state: 'running',
        matched: 0,
        done: 0,
        skipped: 0,
        skipped_reasons: '{}',
        cursor: null,
        actor: JSON.stringify(recovery.actor),
        created_at: now,
        updated_at: now,
        finished_at: null,
        error: null,
        lease_owner: null,
        lease_expires_at: null,
        outcome_tracked: recovery.action === 'retry' ? 1 : 0,
      })
      .execute();
    // The set, in one statement per part: every matched id. One that already waits in another
    // running recovery conflicts with the unique index of pending messages and is left out; it
    // counts as skipped (in_other_recovery). (The statement must not read the table it writes:
    // on PostgreSQL that made it quadratic, each row scanning the rows inserted before it.)
    let matched = 0;
    let inserted = 0;
    for (const part of filter.unsent ? unsentParts(filter.unsent) : [null]) {
      const where = (w: ExpressionBuilder<Database, 'messages'>) =>
        w.and([...messageConditions(w, filter, context), ...(part ? [part.where(w)] : [])]);
      const counted = await trx
        .selectFrom(messagesTable(handle.dialect, part?.index ?? null))
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(where)
        .executeTakeFirstOrThrow();
      matched += Number(counted.n);
      const result = await trx
        .insertInto('recovery_items')
        .columns(['recovery_id', 'message_id', 'state', 'reason'])
        .expression((eb) =>
          eb
            .selectFrom(messagesTable(handle.dialect, part?.index ?? null))
            .select([
              sql<string>`${recovery.id}`.as('recovery_id'),
              'messages.id',
              sql<string>`'pending'`.as('state'),
              sql<string | null>`null`.as('reason'),
            ])
            .where(where),
        )
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      inserted += Number(result.numInsertedOrUpdatedRows ?? 0);
    }
    // Should a message change between the count and the insert (PostgreSQL, read committed),
    // the count stays the set's size.
    matched = Math.max(matched, inserted);
    const skipped = matched - inserted;
    const finished = matched === skipped;
    await trx
      .updateTable('recoveries')
      .set({
        matched,
        skipped,
        skipped_reasons: JSON.stringify(skipped > 0 ? { in_other_recovery: skipped } : {}),
        ...(finished ? { state: 'done', finished_at: now } : {}),
      })
      .where('id', '=', recovery.id)
      .execute();
    await insertAuditEvent(trx, {
      ...audit,
      counts: { matched, in_other_recovery: skipped },
    });
    const record = await readRecovery(trx, handle.dialect, recovery.id);
    if (!record) throw new Error(`recovery ${recovery.id} vanished`);
    if (finished) await insertAuditEvent(trx, recoveryFinishEvent(record, now));
    return record;
  });
}
