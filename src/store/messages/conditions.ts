import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import {
  providerMessageIdCandidates,
  recipientDomain,
  subjectWords,
} from '../../domain/operations/message-query.ts';
import {
  REQUEUED_OUTCOME,
  type UnsentReason,
  type UnsentWindow,
} from '../../domain/operations/unsent.ts';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import { PRIORITY_RANK } from '../../domain/priority.ts';
import type { DatabaseHandle, Dialect, SubjectPlan } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { subjectIndexedThrough } from '../search/index-subjects.ts';
import { metadataEntryIs } from './metadata.ts';

/**
 * The WHERE conditions of a message filter, shared by listing, counting, the unsent view, dry
 * runs and a recovery's snapshot, so they all match the same messages.
 */

type MessagesEb = ExpressionBuilder<Database, 'messages'>;
type Condition = (eb: MessagesEb) => Expression<SqlBool>;

export interface ConditionContext {
  /**
   * Each subject's condition, by the subject's text (the filter's, and an excluded one): the
   * engine's match (Dialect.subjectMatch) with how far the subject index got, in its plan.
   */
  subjects?: Map<string, Expression<SqlBool>>;
}

/** The plan of each subject condition (SubjectPlan); both find the same messages. */
export interface SubjectPlans {
  subject: SubjectPlan;
  notSubject: SubjectPlan;
}

/** The subject's ids read as a set: right for counts, and for pages of a rare word. */
export const SUBJECT_IDS_AS_SET: SubjectPlans = {
  subject: 'matching-ids',
  notSubject: 'matching-ids',
};

/**
 * Up to this many messages with a subject's words, a page reads their ids from the index as a
 * set (~5 µs an id on SQLite at 1,000,000 messages: 50 ms); with more, it checks each message
 * as it reads them newest first, which fills a page after a few hundred rows when the other
 * conditions leave enough of the word's messages (see SubjectPlan, and list.ts for when not).
 */
export const SUBJECT_IDS_READ_AS_SET = 10_000;

/**
 * The plans for a page of `filter`: per message for a subject more than `idsReadAsSet`
 * messages have, by a count of the index read that far at most (about 1 ms at 10,000).
 */
export async function subjectPlansForPage(
  handle: DatabaseHandle,
  filter: Pick<MessageFilter, 'subject' | 'not'>,
  idsReadAsSet = SUBJECT_IDS_READ_AS_SET,
): Promise<SubjectPlans> {
  const planOf = async (text: string | undefined): Promise<SubjectPlan> => {
    if (!text) return 'matching-ids';
    const indexed = await handle.dialect.countSubjectMatches(
      handle.db,
      subjectWords(text),
      idsReadAsSet + 1,
    );
    return indexed > idsReadAsSet ? 'per-message' : 'matching-ids';
  };
  return { subject: await planOf(filter.subject), notSubject: await planOf(filter.not?.subject) };
}

/**
 * What the conditions need from the database besides the filter: for a subject, the last
 * message id in the subject index (search/index-subjects.ts); later messages are searched
 * without it.
 */
export async function conditionContext(
  handle: DatabaseHandle,
  filter: Pick<MessageFilter, 'subject' | 'not'>,
  plans: SubjectPlans = SUBJECT_IDS_AS_SET,
): Promise<ConditionContext> {
  const { subject } = filter;
  const notSubject = filter.not?.subject;
  if (!subject && !notSubject) return {};
  const indexedThrough = await subjectIndexedThrough(handle);
  const subjects = new Map<string, Expression<SqlBool>>();
  const add = (text: string, plan: SubjectPlan) =>
    subjects.set(text, handle.dialect.subjectMatch(subjectWords(text), indexedThrough, plan));
  // A text both wanted and excluded gets one condition: both plans find the same messages.
  if (notSubject) add(notSubject, plans.notSubject);
  if (subject) add(subject, plans.subject);
  return { subjects };
}

/** The filter without its subject conditions, wanted or excluded. */
export function withoutSubjects<F extends Pick<MessageFilter, 'subject' | 'not'>>(filter: F): F {
  const { subject: _subject, not, ...rest } = filter;
  if (!not) return rest as F;
  const { subject: _notSubject, ...notRest } = not;
  return (Object.keys(notRest).length > 0 ? { ...rest, not: notRest } : rest) as F;
}

export function messageConditions(
  eb: MessagesEb,
  filter: Omit<MessageFilter, 'limit' | 'unsent'>,
  context: ConditionContext,
): Expression<SqlBool>[] {
  const terms: Expression<SqlBool>[] = [];
  if (filter.status) terms.push(eb('messages.status', '=', filter.status));
  if (filter.unitId !== undefined) terms.push(eb('messages.unit_id', '=', filter.unitId));
  if (filter.beforeId !== undefined) terms.push(eb('messages.id', '<', filter.beforeId));
  const range = (
    column: 'created_at' | 'updated_at' | 'failed_at',
    after: number | undefined,
    before: number | undefined,
  ) => {
    if (after !== undefined) terms.push(eb(`messages.${column}`, '>=', after));
    if (before !== undefined) terms.push(eb(`messages.${column}`, '<', before));
  };
  range('created_at', filter.createdAfter, filter.createdBefore);
  range('updated_at', filter.updatedAfter, filter.updatedBefore);
  range('failed_at', filter.failedAfter, filter.failedBefore);
  if (filter.provider !== undefined) terms.push(eb('messages.last_provider', '=', filter.provider));
  if (filter.errorClass !== undefined)
    terms.push(eb('messages.last_error_class', '=', filter.errorClass));

  if (filter.recipient) {
    // A look-up in recipients' own indexes (by address, or by domain), then messages by id.
    const domain = recipientDomain(filter.recipient);
    const recipients = eb.selectFrom('recipients').select('recipients.message_id');
    const matching =
      domain === null
        ? recipients.where('recipients.email_normalized', '=', filter.recipient.toLowerCase())
        : recipients.where('recipients.email_domain', '=', domain);
    terms.push(eb('messages.id', 'in', matching));
  }
  if (filter.recipientName) {
    // No index: a scan of the recipients' names, read once as a set. Names are few per message
    // and short; a support search, not an application's path.
    const pattern = containsPattern(filter.recipientName);
    terms.push(
      eb(
        'messages.id',
        'in',
        eb.selectFrom('recipients').select('recipients.message_id').where(nameContains(pattern)),
      ),
    );
  }
  if (filter.recipientText) {
    // The same scan, over each recipient's address as well as its name, in one pass. Addresses
    // are ASCII (validate-message.ts) and stored lower-cased in email_normalized: lowering the
    // pattern alone ignores their case, without a lower() per row.
    const pattern = containsPattern(filter.recipientText);
    terms.push(
      eb(
        'messages.id',
        'in',
        eb
          .selectFrom('recipients')
          .select('recipients.message_id')
          .where((r) =>
            r.or([
              sql<SqlBool>`recipients.email_normalized like lower(${pattern}) escape '\\'`,
              nameContains(pattern),
            ]),
          ),
      ),
    );
  }
  if (filter.category) {
    const category = filter.category;
    terms.push(
      eb.exists(
        eb
          .selectFrom('message_categories')
          .select('message_categories.message_id')
          .whereRef('message_categories.message_id', '=', 'messages.id')
          .where('message_categories.category', '=', category),
      ),
    );
  }
  for (const [key, value] of filter.metadata ?? []) {
    terms.push(
      eb.exists(
        eb
          .selectFrom('message_metadata')
          .select('message_metadata.message_id')
          .whereRef('message_metadata.message_id', '=', 'messages.id')
          .where((metadata) => metadataEntryIs(metadata, key, value)),
      ),
    );
  }
  if (filter.deliveryStatus) {
    const recipients = eb
      .selectFrom('recipients')
      .select('recipients.message_id')
      .whereRef('recipients.message_id', '=', 'messages.id');
    terms.push(
      eb.exists(
        filter.deliveryStatus === 'none'
          ? recipients.where('recipients.delivery_status', 'is', null)
          : recipients.where('recipients.delivery_status', '=', filter.deliveryStatus),
      ),
    );
  }
  if (filter.subject) terms.push(subjectCondition(filter.subject, context));
  if (filter.providerMessageId !== undefined) {
    // The ids from each index (an attempt's: SendGrid's X-Message-Id; the one answered to
    // `/v3/mail/send`, null for other mail and so outside its partial index), then messages by
    // id. As one `in` set, SQLite reads it with `messages_unit` (unit_id, id) for a unit's
    // reader; an `or` of the two made it walk the unit's every message.
    const ids = providerMessageIdCandidates(filter.providerMessageId);
    const matching = eb
      .selectFrom('attempts')
      .select('attempts.message_id')
      .where('attempts.provider_message_id', 'in', ids)
      .unionAll(
        eb
          .selectFrom('messages as answered')
          .select('answered.id as message_id')
          .where('answered.x_message_id', 'in', ids),
      );
    terms.push(eb('messages.id', 'in', matching));
  }
  if (filter.from) {
    terms.push(eb(eb.fn('lower', ['messages.from_email']), '=', filter.from.toLowerCase()));
  }
  if (filter.recoveryId !== undefined) {
    // The partial index of requeued messages (messages_recovery_outcome) holds them.
    terms.push(eb('messages.last_recovery_id', '=', filter.recoveryId));
  }
  // Each excluded condition on its own; a condition on an empty column (no provider yet) counts
  // as not matching, so `-provider:x` keeps the messages never tried.
  for (const term of filter.not ? messageConditions(eb, filter.not, context) : []) {
    terms.push(sql<SqlBool>`not coalesce(${term}, false)`);
  }
  if (filter.unconfirmedSentBefore !== undefined) {
    terms.push(eb('messages.status', '=', 'sent'));
    terms.push(eb('messages.sent_at', '<', filter.unconfirmedSentBefore));
    terms.push(
      eb.not(
        eb.exists(
          eb
            .selectFrom('delivery_events')
            .select('delivery_events.message_id')
            .whereRef('delivery_events.message_id', '=', 'messages.id'),
        ),
      ),
    );
  }
  return terms;
}

/** A LIKE pattern for `text` anywhere in a value: `%`, `_` and a backslash in it are text. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Whether a recipient's name holds the text of `pattern` (containsPattern), in any case. Both
 * sides are lowered by the database: SQLite's lower() folds ASCII letters only, and a pattern
 * lowered in JS (É to é) could then never meet the name it was typed from.
 */
function nameContains(pattern: string): Expression<SqlBool> {
  return sql<SqlBool>`lower(recipients.name) like lower(${pattern}) escape '\\'`;
}

/**
 * Subject words, all of them, as whole words in any case and without Latin accents: the index
 * (search/; PostgreSQL a tsvector table, SQLite FTS5) for messages it has reached, and the same
 * rules on the subject itself for the few newer ones.
 */
function subjectCondition(subject: string, context: ConditionContext): Expression<SqlBool> {
  const condition = context.subjects?.get(subject);
  if (!condition) throw new Error('a subject filter needs its conditionContext');
  return condition;
}

/** One part of the unsent view: its condition and the partial index that holds its rows. */
export interface UnsentPart {
  index: UnsentIndex;
  where: Condition;
}

export type UnsentIndex =
  | 'messages_unsent'
  | 'messages_unsent_summary'
  | 'messages_claim'
  | 'messages_unconfirmed';

/**
 * The unsent view's set, as up to three disjoint parts, each read from a partial index of
 * unfinished rows (the rules are domain/operations/unsent.ts's):
 *
 * - in trouble: dead letters, and messages tried and not finished (`messages_unsent`);
 * - waiting: never tried, due too long ago (`messages_claim`, the worker's own index, one range
 *   per priority);
 * - unconfirmed: sent, no delivery event (`messages_unconfirmed`; only when events can come).
 *
 * Each part repeats its index's WHERE clause word for word, which SQLite needs to use it.
 */
export function unsentParts(unsent: { reason?: UnsentReason; window: UnsentWindow }): UnsentPart[] {
  const { window } = unsent;
  // Parenthesised: Kysely joins raw conditions with AND as they are.
  const inTroubleRows = sql<SqlBool>`(status = 'failed' or (status in ('queued', 'sending') and last_outcome is not null))`;
  const dueRows = sql<SqlBool>`status in ('queued', 'scheduled', 'sending')`;
  const inTrouble = (more?: Condition): UnsentPart => ({
    index: 'messages_unsent',
    where: (eb) => eb.and([inTroubleRows, ...(more ? [more(eb)] : [])]),
  });
  const tried = (more: Condition) =>
    inTrouble((eb) => eb.and([eb('messages.status', '<>', 'failed'), more(eb)]));
  const waiting: UnsentPart = {
    index: 'messages_claim',
    where: (eb) =>
      eb.and([
        dueRows,
        // Every rank, so the index (priority, next_attempt_at) is read as one range per priority.
        eb('messages.priority', 'in', Object.values(PRIORITY_RANK)),
        eb('messages.next_attempt_at', '<', window.waitingBefore),
        eb('messages.last_outcome', 'is', null),
      ]),
  };
  const unconfirmedBefore = window.unconfirmedBefore;
  const unconfirmed: UnsentPart[] =
    unconfirmedBefore === null
      ? []
      : [
          {
            index: 'messages_unconfirmed',
            where: (eb) =>
              eb.and([
                sql<SqlBool>`(status = 'sent' and confirmed_at is null)`,
                eb('messages.sent_at', '<', unconfirmedBefore),
                eb('messages.sent_at', '>=', window.unconfirmedSince),
              ]),
          },
        ];
  switch (unsent.reason) {
    case 'failed':
      return [inTrouble((eb) => eb('messages.status', '=', 'failed'))];
    case 'requeued':
      return [tried((eb) => eb('messages.last_outcome', '=', REQUEUED_OUTCOME))];
    case 'unknown_outcome':
      return [tried((eb) => eb('messages.last_outcome', '=', 'unknown'))];
    case 'held':
      return [
        tried((eb) =>
          eb.and([
            eb('messages.last_outcome', 'not in', ['unknown', REQUEUED_OUTCOME]),
            eb('messages.last_provider_fault', 'is not', null),
          ]),
        ),
      ];
    case 'retrying':
      return [
        tried((eb) =>
          eb.and([
            eb('messages.last_outcome', 'not in', ['unknown', REQUEUED_OUTCOME]),
            eb('messages.last_provider_fault', 'is', null),
          ]),
        ),
      ];
    case 'waiting':
      return [waiting];
    case 'unconfirmed':
      return unconfirmed;
    default:
      return [inTrouble(), waiting, ...unconfirmed];
  }
}

/**
 * `messages`, read through `index` on SQLite (INDEXED BY): without statistics SQLite prefers the
 * status index, which for the unconfirmed part means reading every sent message. PostgreSQL
 * plans with its own statistics.
 */
export function messagesTable(dialect: Dialect, index: UnsentIndex | null): 'messages' {
  return dialect.throughIndex('messages', index);
}
