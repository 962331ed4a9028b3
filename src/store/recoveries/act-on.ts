import { CompiledQuery, type Kysely } from 'kysely';
import type { RecoveryAction } from '../../domain/operations/recovery.ts';
import type { Dialect } from '../engine/handle.ts';
import type { Database } from '../schema.ts';

/**
 * The action on the chunk's messages it applies to (the single-message rules); returns the ids
 * it acted on. One UPDATE with the status in its WHERE clause, so a message a worker or an
 * operator changed meanwhile is left alone; nothing else is written per message.
 *
 * The SQL is written here rather than built by Kysely: with 1,000 ids per statement, building
 * and compiling the query took a third of a chunk's time (measured).
 */
export async function actOn(
  trx: Kysely<Database>,
  dialect: Dialect,
  action: RecoveryAction,
  ids: string[],
  now: number,
): Promise<string[]> {
  const p = dialect.placeholder;
  const idList = dialect.inList(ids, 4);
  const retry = action === 'retry';
  // A fresh retry budget on retry; attempt numbers go on counting.
  const update = retry
    ? `update messages set status = 'queued', next_attempt_at = ${p(1)},
        attempts_before_retry = attempt_count, updated_at = ${p(2)}
        where status = ${p(3)} and id ${idList.text} returning id`
    : `update messages set status = 'cancelled', next_attempt_at = null, updated_at = ${p(1)}
        where status in (${p(2)}, ${p(3)}) and id ${idList.text} returning id`;
  const rows = await trx.executeQuery<{ id: string }>(
    CompiledQuery.raw(
      update,
      retry
        ? [now, now, 'failed', ...idList.params]
        : [now, 'queued', 'scheduled', ...idList.params],
    ),
  );
  // The recipients' rows stay as they are: they read `pending` (or `cancelled`) through the
  // message's status (reportedRecipientStatus). Rewriting them here doubled the pages a chunk
  // writes, since a message's recipients are rarely on the same page as the message.
  return rows.rows.map((r) => r.id);
}
