import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * The `X-Message-Id` Tegami answered a `POST /v3/mail/send` with, in a column of its own so that
 * support can look a message up by it (`provider_message_id` filter): it is the id the
 * application logged, and until now it was only inside the content's JSON, which no index
 * reaches. Null for mail that came in through `/v1`, which the partial index leaves out, so
 * that mail pays nothing for it. Mail accepted before the upgrade gets its id from the content.
 */
export async function up(db: AnyDb): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // A migration and its record now commit together on SQLite too (engine/migrate.ts). Before,
  // each statement committed by itself, and a process stopped during the fill below (it reads
  // every message) left the column without the migration recorded: the next start goes on from
  // there instead of failing on the column it finds.
  if (postgres || !(await sqliteHasColumn(db, 'messages', 'x_message_id'))) {
    await db.schema.alterTable('messages').addColumn('x_message_id', 'text').execute();
  }
  // The `like` skips, without parsing it, the content of every message that has no such id.
  if (postgres) {
    // PostgreSQL's JSON refuses an escaped NUL anywhere in a document, and one such message
    // stopped the upgrade; read as an escaped space, it leaves the id (which holds none) as is.
    await sql`update messages
      set x_message_id = replace(content, ${'\\u0000'}, ${'\\u0020'})::json #>> '{sendgrid,xMessageId}'
      where content like '%"xMessageId"%'`.execute(db);
  } else {
    await sql`update messages set x_message_id = json_extract(content, '$.sendgrid.xMessageId')
      where content like '%"xMessageId"%'`.execute(db);
  }
  await sql`create index if not exists messages_x_message_id on messages (x_message_id)
    where x_message_id is not null`.execute(db);
}

async function sqliteHasColumn(db: AnyDb, table: string, column: string): Promise<boolean> {
  const found = await sql`select 1 from pragma_table_info(${table}) where name = ${column}`.execute(
    db,
  );
  return found.rows.length > 0;
}

export async function down(db: AnyDb): Promise<void> {
  await sql`drop index messages_x_message_id`.execute(db);
  await db.schema.alterTable('messages').dropColumn('x_message_id').execute();
}
