import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { tempDatabase } from './helpers.ts';

/**
 * An answer read with several queries (GET /v1/messages/{id}: the message, then its recipients
 * and attempts) comes from one view of the database. Before, a worker's result committed between
 * the queries showed the message still `sending` beside the attempt that ended it.
 */
describe('readSnapshot', () => {
  const temp = tempDatabase();
  const reader = openDatabase(temp.url);
  // Another process's connection: on SQLite another connection to the file, on PostgreSQL
  // another pool.
  const writer = openDatabase(temp.url);
  after(async () => {
    await reader.close();
    await writer.close();
    await temp.cleanup();
  });

  test('reads one state of the database even when another connection commits meanwhile', async () => {
    await migrateToLatest(reader.db);
    await sql`create table snapshot_test (value text)`.execute(reader.db);
    await sql`insert into snapshot_test (value) values ('before')`.execute(reader.db);
    const read = async (db: typeof reader.db) =>
      (await sql<{ value: string }>`select value from snapshot_test`.execute(db)).rows[0]?.value;

    const seen = await reader.readSnapshot(async (db) => {
      const first = await read(db);
      await writer.writeTransaction(async (trx) => {
        await sql`update snapshot_test set value = 'after'`.execute(trx);
      });
      const second = await read(db);
      return [first, second];
    });
    assert.deepEqual(seen, ['before', 'before'], 'the commit in between is not seen');
    assert.equal(await read(reader.db), 'after', 'the next read sees it');
  });

  // SQLite's deferred transaction could write; this handle's writes all go through writeTransaction.
  test('cannot write (PostgreSQL)', { skip: reader.engine === 'sqlite' }, async () => {
    await assert.rejects(
      reader.readSnapshot(async (db) => {
        await sql`insert into snapshot_test (value) values ('x')`.execute(db);
      }),
      /read-only transaction/,
    );
  });
});
