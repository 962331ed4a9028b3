import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * What became of the mail a retry recovery requeued ("1,790 sent since, 4 failed again, 2 still
 * waiting"). A recovery's set is deleted chunk by chunk as it is worked through, so each message
 * it requeues is marked instead, by the UPDATE that requeues it: `messages.last_recovery_id`. A
 * later recovery that requeues the message again marks it as its own, so a message counts toward
 * the last recovery that requeued it.
 *
 * The index holds only messages a recovery requeued (the column is null for every other one, and
 * stays so), so submitting, claiming and sending mail that was never recovered writes nothing
 * more. Its second column is the status, so a recovery's outcome is counted from the index alone.
 * Adding a column without a default rewrites no table on either engine; building the index reads
 * the table once, in the migration's transaction (submissions wait meanwhile, once, at the
 * upgrade).
 *
 * `recoveries.outcome_tracked` is 1 for the retry recoveries started from now on. A recovery
 * started before (or a cancel) marked nothing: it has no outcome rather than one that says none
 * of its messages were sent.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('messages').addColumn('last_recovery_id', 'text').execute();
  // The condition is a literal: SQLite uses a partial index only when the query implies it.
  await sql`create index messages_recovery_outcome on messages (last_recovery_id, status)
    where last_recovery_id is not null`.execute(db);
  await db.schema
    .alterTable('recoveries')
    .addColumn('outcome_tracked', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('recoveries').dropColumn('outcome_tracked').execute();
  await sql`drop index messages_recovery_outcome`.execute(db);
  await db.schema.alterTable('messages').dropColumn('last_recovery_id').execute();
}
