import { firstIdAt } from '../../domain/ids.ts';
import type { UnsentGroup, UnsentSummaryData } from '../../domain/operations/ports.ts';
import { dueSince, type UnsentReason, unsentReason } from '../../domain/operations/unsent.ts';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { MessageStatus } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { messageDueSince } from '../messages/columns.ts';
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
const PENDING_REASONS: readonly UnsentReason[] = [
  'waiting',
  'requeued',
  'held',
  'retrying',
  'unknown_outcome',
];

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
  // Due since its send_at or its creation (dueSince), as the delivery_delay alert counts.
  const wanted = new Set(groups.filter((g) => g.count > 0).map((g) => g.reason));
  let oldestPending = null as UnsentSummaryData['oldestPending'];
  for (const reason of PENDING_REASONS) {
    if (!wanted.has(reason)) continue;
    const found: { id: string; dueSince: number } | null =
      reason === 'waiting'
        ? oldestWaiting
        : await oldestTriedSince(handle, filter, context, reason, oldestPending?.dueSince);
    if (found && (!oldestPending || found.dueSince < oldestPending.dueSince))
      oldestPending = { ...found, reason };
  }
  return { groups, oldestWaiting, oldestPending };
}

/** Rows read in id order while looking for the oldest tried message of a reason. */
const OLDEST_PAGE = 20;
/**
 * How much earlier than its id's time a message's created_at may be: both come from this
 * process's clock, created_at when the request began, the id as each message of it is made
 * (never earlier: the id factory is monotonic).
 */
const ID_CLOCK_SLACK_MS = 5_000;

/**
 * The tried message of `reason` (held, retrying, unknown outcome) due longest, if any is due
 * before `before`. Read oldest first from `messages_unsent`, which is in id order, and ids grow
 * with creation: a message is due at its creation or later (its send_at), so once a row was
 * created (give or take ID_CLOCK_SLACK_MS) after the best due time found, no later row can beat
 * it. Without scheduled mail that is within the first page: in an outage with 200,000 held
 * messages the summary reads a few index entries, not every held row. Held mail that was
 * scheduled (reminders created weeks ago for this morning) can keep every row of the page in
 * the running; the rest is then read once, by due time, among the rows created before the best
 * due time found (the ids made up to ID_CLOCK_SLACK_MS later: a range of the index).
 */
async function oldestTriedSince(
  handle: DatabaseHandle,
  filter: MessageFilter,
  context: Awaited<ReturnType<typeof conditionContext>>,
  reason: UnsentReason,
  before: number | undefined,
): Promise<{ id: string; dueSince: number } | null> {
  const [part] = unsentParts({
    ...(filter.unsent as NonNullable<MessageFilter['unsent']>),
    reason,
  });
  if (!part) return null;
  let best: { id: string; dueSince: number } | null = null;
  const bound = () => Math.min(best?.dueSince ?? Infinity, before ?? Infinity);
  const rows = await handle.db
    .selectFrom(messagesTable(handle.dialect, part.index))
    .select(['messages.id', 'messages.created_at', 'messages.send_at'])
    .where((eb) => eb.and([...messageConditions(eb, filter, context), part.where(eb)]))
    .orderBy('messages.id')
    .limit(OLDEST_PAGE)
    .execute();
  for (const r of rows) {
    const createdAt = Number(r.created_at);
    if (createdAt >= bound() + ID_CLOCK_SLACK_MS) return best;
    const due = dueSince(createdAt, r.send_at === null ? null : Number(r.send_at));
    if (due < bound()) best = { id: r.id, dueSince: due };
  }
  const last = rows[rows.length - 1];
  if (rows.length < OLDEST_PAGE || !last) return best;
  const limit = bound();
  const rest = await handle.db
    .selectFrom(messagesTable(handle.dialect, part.index))
    .select(['messages.id', messageDueSince.as('due')])
    .where((eb) =>
      eb.and([
        ...messageConditions(eb, filter, context),
        part.where(eb),
        eb('messages.id', '>', last.id),
        ...(Number.isFinite(limit)
          ? [
              eb('messages.id', '<', firstIdAt('msg', limit + ID_CLOCK_SLACK_MS)),
              eb('messages.created_at', '<', limit),
            ]
          : []),
      ]),
    )
    .orderBy(messageDueSince)
    .orderBy('messages.id')
    .limit(1)
    .executeTakeFirst();
  if (rest && Number(rest.due) < limit) return { id: rest.id, dueSince: Number(rest.due) };
  return best;
}
