import {
  type Expression,
  type ExpressionBuilder,
  type Selectable,
  type SqlBool,
  sql,
} from 'kysely';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { MessageRecord } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database, RecipientTable } from '../schema.ts';
import { unitNamesOf } from '../units/names-of.ts';
import {
  type ConditionContext,
  conditionContext,
  messageConditions,
  messagesTable,
  SUBJECT_IDS_READ_AS_SET,
  type SubjectPlans,
  subjectPlansForPage,
  type UnsentIndex,
  type UnsentPart,
  unsentParts,
  withoutSubjects,
} from './conditions.ts';
import { toMessageRecord } from './rows.ts';

/**
 * How many messages (of those matching everything but the subject) a page of a common subject
 * word checks one by one before it reads the word's ids as a set instead: a bound of ~5,000 ×
 * 15 µs on SQLite, for other conditions that few of the word's messages meet.
 */
const CHECKED_PER_MESSAGE = 5_000;

/** Where a page changes plans (tests move them to run each plan on a few messages). */
export interface PagePlanLimits {
  /** See SUBJECT_IDS_READ_AS_SET. */
  idsReadAsSet: number;
  /** See CHECKED_PER_MESSAGE. */
  checkedPerMessage: number;
}

/** The unsent view's indexes that hold their rows in id order (the others are sorted). */
const ID_ORDERED_INDEXES: ReadonlySet<UnsentIndex> = new Set(['messages_unsent']);

/** A page of messages matching `filter`, newest first, with their recipients (not attempts). */
export async function listMessages(
  handle: DatabaseHandle,
  filter: MessageFilter,
  limits: PagePlanLimits = {
    idsReadAsSet: SUBJECT_IDS_READ_AS_SET,
    checkedPerMessage: CHECKED_PER_MESSAGE,
  },
): Promise<MessageRecord[]> {
  const plans = await subjectPlansForPage(handle, filter, limits.idsReadAsSet);
  // The unsent view is two disjoint sets, each read from its own partial index: the newest
  // `limit` of each, merged.
  const parts = filter.unsent ? unsentParts(filter.unsent) : [null];
  const results = await Promise.all(
    parts.map((part) => newestOfPart(handle, filter, part, plans, limits.checkedPerMessage)),
  );
  const rows = results
    .flat()
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, filter.limit);
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  // The page's rows and their recipients in one snapshot: read apart, a result committed in
  // between showed a message `sending` beside a recipient already `sent`.
  const read = await handle.readSnapshot(async (trx) => ({
    messages: await trx.selectFrom('messages').selectAll().where('id', 'in', ids).execute(),
    recipients: await trx
      .selectFrom('recipients')
      .selectAll()
      .where('message_id', 'in', ids)
      .orderBy('message_id')
      .orderBy('position')
      .execute(),
  }));
  // Outside the snapshot: on SQLite it holds the one connection, which this lookup would wait for.
  const names = await unitNamesOf(
    handle,
    read.messages.map((r) => r.unit_id),
  );
  const fresh = new Map(read.messages.map((m) => [m.id, m]));
  const recipients = read.recipients;
  const byMessage = new Map<string, Selectable<RecipientTable>[]>();
  for (const r of recipients) {
    const list = byMessage.get(r.message_id) ?? [];
    list.push(r);
    byMessage.set(r.message_id, list);
  }
  // In the page's order; a message deleted meanwhile (retention) is left out.
  return rows.flatMap((page) => {
    const row = fresh.get(page.id);
    return row
      ? [
          toMessageRecord(
            row,
            names.get(row.unit_id) ?? row.unit_id,
            byMessage.get(row.id) ?? [],
            [],
          ),
        ]
      : [];
  });
}

/**
 * The newest `limit` messages of one part. A subject word many messages have is checked per
 * message over the newest `checkedPerMessage` messages that meet the other conditions; if they
 * hold too few of it (the other conditions and the word rarely meet), the older ones are read
 * with the word's ids as a set, which costs what it would have cost without trying.
 */
async function newestOfPart(
  handle: DatabaseHandle,
  filter: MessageFilter,
  part: UnsentPart | null,
  plans: SubjectPlans,
  checkedPerMessage: number,
): Promise<{ id: string }[]> {
  const table = messagesTable(handle.dialect, part?.index ?? null);
  // A part whose index is not in id order is sorted by an expression no index serves:
  // PostgreSQL otherwise walked the primary key backwards hoping to meet a few unconfirmed (or
  // waiting) messages soon, and read all 1,000,000 when there were none (2.2-4.3 s, measured).
  const newestFirst =
    part && !ID_ORDERED_INDEXES.has(part.index)
      ? sql`${sql.ref('messages.id')} || '' desc`
      : sql`${sql.ref('messages.id')} desc`;
  const query = (
    of: Omit<MessageFilter, 'limit'>,
    context: ConditionContext,
    limit: number,
    more?: (eb: ExpressionBuilder<Database, 'messages'>) => Expression<SqlBool>,
  ) =>
    handle.db
      .selectFrom(table)
      // The page's ids only: its rows are read whole afterwards, with their recipients, in one
      // snapshot (listMessages).
      .select('messages.id')
      .where((eb) =>
        eb.and([
          ...messageConditions(eb, of, context),
          ...(part ? [part.where(eb)] : []),
          ...(more ? [more(eb)] : []),
        ]),
      )
      .orderBy(newestFirst)
      .limit(limit);
  const perMessage = plans.subject === 'per-message' || plans.notSubject === 'per-message';
  if (!perMessage) {
    return query(filter, await conditionContext(handle, filter), filter.limit).execute();
  }
  const oldestChecked = await query(withoutSubjects(filter), {}, 1)
    .clearSelect()
    .select('id')
    .offset(checkedPerMessage - 1)
    .executeTakeFirst();
  const newest = await query(
    filter,
    await conditionContext(handle, filter, plans),
    filter.limit,
    oldestChecked ? (eb) => eb('messages.id', '>=', oldestChecked.id) : undefined,
  ).execute();
  if (!oldestChecked || newest.length === filter.limit) return newest;
  // An excluded word stays a check per message: it only removes rows, and as a set inside a
  // NOT, PostgreSQL tests each row against the whole list when the set outgrows `work_mem`.
  const older = await query(
    filter,
    await conditionContext(handle, filter, { ...plans, subject: 'matching-ids' }),
    filter.limit - newest.length,
    (eb) => eb('messages.id', '<', oldestChecked.id),
  ).execute();
  return [...newest, ...older];
}
