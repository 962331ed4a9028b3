import type { RecoveryWork } from '../../domain/operations/ports.ts';
import {
  RECOVERY_CHUNK,
  recoveryFinishEvent,
  type SkipReason,
  skipReason,
} from '../../domain/operations/recovery.ts';
import type { MessageStatus } from '../../domain/types.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { actOn } from './act-on.ts';
import { addReasons, endedColumns, toRecovery } from './rows.ts';

/**
 * Works through the next `size` messages of the set, in one transaction with the progress, so
 * after a crash the recovery resumes exactly where the last commit left it: no message is acted
 * on twice. Only while `owner` holds the lease and the recovery is running (a cancel between
 * chunks stops it here).
 */
export function runChunk(
  handle: DatabaseHandle,
  id: string,
  owner: string,
  now: number,
  size: number,
  ttlMs: number,
): ReturnType<RecoveryWork['runChunk']> {
  // An unpaced recovery's chunks (past its first: paced ones stay at RECOVERY_CHUNK or below)
  // follow one another at once, each rewriting thousands of pages: a run of bulk writes.
  const bulk = size > RECOVERY_CHUNK;
  return handle.writeTransaction(
    async (trx) => {
      // PostgreSQL: a cancel waits for this chunk, and this chunk for a cancel.
      const row = await handle.dialect
        .lockRowsForUpdate(trx.selectFrom('recoveries').selectAll().where('id', '=', id))
        .executeTakeFirst();
      if (row?.state !== 'running' || row.lease_owner !== owner) return { kind: 'lost' } as const;
      const record = toRecovery(row);
      const from = row.cursor ?? '';
      const items = await trx
        .selectFrom('recovery_items')
        .select('message_id')
        .where('recovery_id', '=', id)
        .where('message_id', '>', from)
        .where('state', '=', 'pending')
        .orderBy('message_id')
        .limit(size)
        .execute();
      const last = items[items.length - 1]?.message_id;
      if (last === undefined) {
        await trx
          .updateTable('recoveries')
          .set({ state: 'done', ...endedColumns(now) })
          .where('id', '=', id)
          .execute();
        const finished = { ...record, state: 'done' as const, finishedAt: now, updatedAt: now };
        await insertAuditEvent(trx, recoveryFinishEvent(finished, now));
        return { kind: 'finished', record: finished } as const;
      }

      // The chunk is the range (from, last] of the set's pending messages.
      const ids = items.map((i) => i.message_id);
      const acted = new Set(await actOn(trx, handle.dialect, id, record.action, ids, now));
      const rest = ids.filter((m) => !acted.has(m));
      const reasons = new Map<SkipReason, number>();
      if (rest.length > 0) {
        const current = await trx
          .selectFrom('messages')
          .select(['id', 'status'])
          .where('id', 'in', rest)
          .execute();
        const status = new Map(current.map((m) => [m.id, m.status as MessageStatus]));
        for (const messageId of rest) {
          const reason = skipReason(record.action, status.get(messageId) ?? null);
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        }
      }
      // The range leaves the set: what was acted on and what was skipped are counted in the
      // recovery's row (below), and the messages may be taken by another recovery from now on.
      // A delete, not an update to a state: on PostgreSQL an update writes a new row version and
      // index entries for each, ~9 times the time of the delete (measured).
      await trx
        .deleteFrom('recovery_items')
        .where('recovery_id', '=', id)
        .where('message_id', '>', from)
        .where('message_id', '<=', last)
        .execute();
      const progress = {
        done: record.done + acted.size,
        skipped: record.skipped + rest.length,
        skippedReasons: addReasons(record.skippedReasons, reasons),
      };
      await trx
        .updateTable('recoveries')
        .set({
          done: progress.done,
          skipped: progress.skipped,
          skipped_reasons: JSON.stringify(progress.skippedReasons),
          cursor: last,
          updated_at: now,
          lease_expires_at: now + ttlMs,
        })
        .where('id', '=', id)
        .execute();
      return {
        kind: 'progress',
        acted: acted.size,
        record: { ...record, ...progress, updatedAt: now },
      } as const;
    },
    { bulk },
  );
}
