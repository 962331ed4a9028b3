import { sql } from 'kysely';
import type { UnsentGroup, UnsentSummaryData } from '../../domain/operations/ports.ts';
import { type UnsentReason, unsentReason } from '../../domain/operations/unsent.ts';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { MessageStatus } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import {
  conditionContext,
  messageConditions,
  messagesTable,
  unsentParts,
} from '../messages/conditions.ts';

/** What the summary groups by: all in the partial indexes, so it reads indexes only. */
const GROUPED = [
  'messages.status',
  'messages.unit_id',
  'messages.last_provider',
  'messages.last_error_class',
  'messages.last_outcome',
  'messages.last_provider_fault',
] as const;

/** The reasons of mail not yet taken by a provider: it still goes out by itself. */
const PENDING_REASONS: readonly UnsentReason[] = ['waiting', 'held', 'retrying', 'unknown_outcome'];

/**
 * The unsent view in groups (reason, unit, provider, error class), the oldest waiting (never
 * tried), and the oldest not yet taken by a provider whatever holds it (held mail in an outage).
 */
export async function unsentSummary(
  handle: DatabaseHandle,
  filter: MessageFilter,
): Promise<UnsentSummaryData> {
  if (!filter.unsent) throw new Error('unsentSummary needs an unsent filter');
  const context = await conditionContext(handle, filter);
  const groups: UnsentGroup[] = [];
  for (const part of unsentParts(filter.unsent)) {
    // Mail in trouble is counted from the index in grouping order: no sort, no table reads.
    const index = part.index === 'messages_unsent' ? 'messages_unsent_summary' : part.index;
    const rows = await handle.db
      .selectFrom(messagesTable(handle.dialect, index))
      .select(GROUPED)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => eb.and([...messageConditions(eb, filter, context), part.where(eb)]))
      .groupBy(GROUPED)
      .execute();
    for (const r of rows) {
      groups.push({
        reason: unsentReason({
          status: r.status as MessageStatus,
          lastOutcome: r.last_outcome ?? null,
          lastProviderFault: r.last_provider_fault ?? null,
        }),
        unitId: r.unit_id,
        provider: r.last_provider ?? null,
        errorClass: r.last_error_class ?? null,
        count: Number(r.n),
      });
    }
  }
  let oldestWaiting: UnsentSummaryData['oldestWaiting'] = null;
  if (groups.some((g) => g.reason === 'waiting')) {
    const [waiting] = unsentParts({ ...filter.unsent, reason: 'waiting' });
    const row = waiting
      ? await handle.db
          .selectFrom(messagesTable(handle.dialect, waiting.index))
          .select(['messages.id', 'messages.next_attempt_at'])
          .where((eb) => eb.and([...messageConditions(eb, filter, context), waiting.where(eb)]))
          .orderBy('messages.next_attempt_at')
          .limit(1)
          .executeTakeFirst()
      : undefined;
    if (row?.next_attempt_at != null) oldestWaiting = { id: row.id, dueSince: row.next_attempt_at };
  }
  // Due since its send_at or its creation, as the delivery_delay alert counts (store/monitoring/
  // pending.ts): a retried message's next_attempt_at is its next try, not when it became due.
  // Read per reason, from the part's own index; held mail is read whole (one row per message).
  const wanted = new Set(groups.filter((g) => g.count > 0).map((g) => g.reason));
  let oldestPending: UnsentSummaryData['oldestPending'] = null;
  for (const reason of PENDING_REASONS) {
    if (!wanted.has(reason)) continue;
    if (reason === 'waiting') {
      if (oldestWaiting && (!oldestPending || oldestWaiting.dueSince < oldestPending.dueSince))
        oldestPending = { ...oldestWaiting, reason };
      continue;
    }
    const [part] = unsentParts({ ...filter.unsent, reason });
    if (!part) continue;
    const due = sql<number>`case when messages.send_at is not null and messages.send_at > messages.created_at then messages.send_at else messages.created_at end`;
    const row = await handle.db
      .selectFrom(messagesTable(handle.dialect, part.index))
      .select(['messages.id', due.as('due')])
      .where((eb) => eb.and([...messageConditions(eb, filter, context), part.where(eb)]))
      .orderBy(due)
      .orderBy('messages.id')
      .limit(1)
      .executeTakeFirst();
    if (row && (!oldestPending || Number(row.due) < oldestPending.dueSince))
      oldestPending = { id: row.id, reason, dueSince: Number(row.due) };
  }
  return { groups, oldestWaiting, oldestPending };
}
