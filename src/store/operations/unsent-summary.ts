import type { UnsentGroup, UnsentSummaryData } from '../../domain/operations/ports.ts';
import { unsentReason } from '../../domain/operations/unsent.ts';
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

/** The unsent view in groups (reason, unit, provider, error class), and the oldest waiting. */
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
  return { groups, oldestWaiting };
}
