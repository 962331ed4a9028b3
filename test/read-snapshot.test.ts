import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, SqlMessageStore } from '../src/store/index.ts';
import { storeOneMessage, tempDatabase } from './helpers.ts';

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

/**
 * `GET /v1/messages` (and the console's lists, the unsent view) read a page of messages, then
 * their recipients. Another connection changes a message and its recipient together, over and
 * over, while pages are read: every page shows each message in one state, never half of each.
 * (On SQLite one process's reads run without a pause between them, so only PostgreSQL could show
 * the mix here; another process writing the file could show it on SQLite as well.)
 */
describe('a page of messages is one state of each message', () => {
  const temp = tempDatabase();
  const reader = openDatabase(temp.url);
  const writer = openDatabase(temp.url);
  after(async () => {
    await reader.close();
    await writer.close();
    await temp.cleanup();
  });

  test('no message is listed `queued` beside a recipient already `sent`, or the reverse', async () => {
    await migrateToLatest(reader.db);
    const messages = new SqlMessageStore(reader);
    const ids = [await storeOneMessage(messages), await storeOneMessage(messages)];
    let flips = 0;
    let writing = true;
    const flipping = (async () => {
      while (writing) {
        const sent = flips % 2 === 0;
        await writer.writeTransaction(async (trx) => {
          await trx
            .updateTable('messages')
            .set({ status: sent ? 'sent' : 'queued' })
            .where('id', 'in', ids)
            .execute();
          await trx
            .updateTable('recipients')
            .set({ status: sent ? 'sent' : 'pending' })
            .where('message_id', 'in', ids)
            .execute();
        });
        flips++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const mixed: string[] = [];
    try {
      // Until the writer changed them often enough to have been caught between two reads (a
      // slow machine's writer flips more slowly; the reads wait for it, up to 30 s).
      const until = Date.now() + 30_000;
      for (let pages = 0; (pages < 300 || flips < 20) && Date.now() < until; pages++) {
        await new Promise((resolve) => setImmediate(resolve));
        for (const m of await messages.list({ limit: 10 })) {
          const recipient = m.recipients[0]?.status;
          if ((m.status === 'sent') !== (recipient === 'sent'))
            mixed.push(`${m.status} beside ${recipient}`);
        }
      }
    } finally {
      writing = false;
      await flipping;
    }
    assert.ok(flips >= 20, `the writer changed the messages while they were read (${flips})`);
    assert.deepEqual(mixed, []);
  });
});
