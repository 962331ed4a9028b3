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
  // Only mail accepted on `/v3/mail/send` has a `sendgrid` object in its content, which
  // JSON.stringify wrote with the id first (every release did): the `like` skips, without
  // parsing it, the content of every other message. So text an early release let through on
  // `/v1` (half of a surrogate pair, escaped `\ud83d`, which PostgreSQL's JSON refuses) cannot
  // stop the fill: that mail is not read, and `/v3` always refused such text.
  const fromV3 = `%${SENDGRID_ORIGIN}%`;
  if (postgres) {
    // PostgreSQL's JSON refuses an escaped NUL anywhere in a document, and one such message
    // stopped the upgrade; read as an escaped space, it leaves the id (which holds none) as is.
    await sql`update messages
      set x_message_id = replace(content, ${'\\u0000'}, ${'\\u0020'})::json #>> '{sendgrid,xMessageId}'
      where content like ${fromV3}`.execute(db);
  } else {
    // SQLite's JSON functions refuse a document nested 1,000 levels deep or more ("malformed
    // JSON"), as `/v3` content could be before its 32-level limit. The id of such content is
    // read as written: the text up to the next quote after the first `"sendgrid":{"xMessageId":"`
    // (the fields before the `sendgrid` object hold only text, so that is the object's own).
    const after = sql`substr(content, instr(content, ${SENDGRID_ORIGIN}) + ${SENDGRID_ORIGIN.length})`;
    await sql`update messages set x_message_id = case
        when json_valid(content) then json_extract(content, '$.sendgrid.xMessageId')
        else substr(${after}, 1, instr(${after}, '"') - 1) end
      where content like ${fromV3}`.execute(db);
  }
  await sql`create index if not exists messages_x_message_id on messages (x_message_id)
    where x_message_id is not null`.execute(db);
}

/** How the content of `/v3` mail starts its `sendgrid` object. */
const SENDGRID_ORIGIN = '"sendgrid":{"xMessageId":"';

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
