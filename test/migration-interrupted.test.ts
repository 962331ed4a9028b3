import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrateTo, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { queryDatabase, runTegami, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * An upgrade cut off in the middle of a migration: a full disk, a stop or a crash between two of
 * its statements. An upgrade drill found SQLite left with half of `022-recovery-outcome` (its
 * column, not its index) and no record of it, and every later `tegami migrate` or start failing
 * with "duplicate column name: last_recovery_id". Each migration must apply whole or not at all,
 * so that the next run, once the cause is gone, applies it. The cut: on SQLite the file may grow
 * by no page (a full disk), on PostgreSQL a lock on `recoveries` outlasts `lock_timeout`; either
 * lets 022 add its column to `messages` and stops it before it alters `recoveries`.
 */
const EARLIER_RELEASE = '021-sign-in-failures-by-client';

describe(`a migration cut off part-way (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  after(() => db.cleanup());

  async function columnsOfMessages(): Promise<string[]> {
    const rows =
      TEST_ENGINE === 'sqlite'
        ? await queryDatabase<{ name: string }>(
            db.url,
            "select name from pragma_table_info('messages')",
          )
        : await queryDatabase<{ name: string }>(
            db.url,
            "select column_name as name from information_schema.columns where table_name = 'messages' and table_schema = current_schema()",
          );
    return rows.map((r) => r.name);
  }

  async function applied(): Promise<string[]> {
    const rows = await queryDatabase<{ name: string }>(
      db.url,
      'select name from kysely_migration order by name',
    );
    return rows.map((r) => r.name);
  }

  test('leaves nothing of itself behind, and the next tegami migrate applies it', async () => {
    const earlier = openDatabase(db.url);
    const now = Date.now();
    try {
      await migrateTo(earlier.db, EARLIER_RELEASE);
      await sql`insert into messages (id, api_key_id, unit_id, status, from_email, subject, content,
          created_at, updated_at, attempt_count, attempts_before_retry, next_attempt_at)
        select 'msg_01A', null, id, 'queued', 'shop@example.com', 'Your booking', '{}', ${now},
          ${now}, 0, 0, ${now}
        from units`.execute(earlier.db);
    } finally {
      await earlier.close();
    }
    const before = await applied();
    assert.equal(before.at(-1), EARLIER_RELEASE);

    if (TEST_ENGINE === 'sqlite') {
      const upgrade = openDatabase(db.url);
      try {
        // The disk is full: the file may not grow by a single page (for this connection only).
        const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(upgrade.db);
        await sql.raw(`pragma max_page_count = ${rows[0]?.page_count}`).execute(upgrade.db);
        await assert.rejects(migrateToLatest(upgrade.db), /database or disk is full/);
      } finally {
        await upgrade.close();
      }
    } else {
      const holder = openDatabase(db.url);
      const url = new URL(db.url);
      url.searchParams.set('options', '-c lock_timeout=300');
      try {
        await holder.db.transaction().execute(async (trx) => {
          await sql`lock table recoveries in access exclusive mode`.execute(trx);
          const upgrade = openDatabase(url.toString());
          try {
            await assert.rejects(migrateToLatest(upgrade.db), /lock timeout/);
          } finally {
            await upgrade.close();
          }
        });
      } finally {
        await holder.close();
      }
    }

    assert.deepEqual(await applied(), before, 'no migration is recorded');
    assert.ok(
      !(await columnsOfMessages()).includes('last_recovery_id'),
      '022 left nothing of itself',
    );

    const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.output);
    assert.match(migrated.output, /^Applied: 022-recovery-outcome, 023-webhook-secret-rotation, /);
    assert.ok((await columnsOfMessages()).includes('last_recovery_id'));
    const [message] = await queryDatabase<{ status: string; subject: string }>(
      db.url,
      "select status, subject from messages where id = 'msg_01A'",
    );
    assert.deepEqual({ ...message }, { status: 'queued', subject: 'Your booking' });
    const again = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.match(again.output, /^Database is up to date\./);
  });
});
