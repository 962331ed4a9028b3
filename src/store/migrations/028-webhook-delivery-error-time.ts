import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * When a status webhook's `last_error` was recorded (`last_error_at`, epoch ms): the time of the
 * post that failed, or of the endpoint's deletion that failed it. The log then says when the
 * receiver last refused, and a status webhook queued again by hand says its error came before
 * the re-queue with that error's own time. Cleared with `last_error` when a post is answered
 * `2xx`. Status webhooks whose error was recorded before stay null: nothing says when it was.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('webhook_deliveries').addColumn('last_error_at', 'bigint').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('webhook_deliveries').dropColumn('last_error_at').execute();
}
