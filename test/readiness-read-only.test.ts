import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * After a failover the database's address may still lead to the old primary, now a standby:
 * reads work and every write fails. A PostgreSQL drill found `/readyz` saying 200 all the while
 * (a load balancer kept sending requests there). `/readyz` now asks the handle whether the
 * database is read-only. Here a pool whose connections are read-only (the URL's `options`, now
 * kept beside the schema's search path) stands for the standby.
 */
describe('a read-only PostgreSQL', {
  skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only',
}, () => {
  test('is told apart from a writable one, with the URL’s options and the schema both applied', async () => {
    const db = tempDatabase();
    const writable = openDatabase(db.url);
    await migrateToLatest(writable.db);
    assert.equal(await writable.readOnly?.(), false);
    await writable.close();

    const readOnlyUrl = new URL(db.url);
    readOnlyUrl.searchParams.set('options', '-c default_transaction_read_only=on');
    const standby = openDatabase(readOnlyUrl.toString());
    try {
      assert.equal(await standby.readOnly?.(), true);
      // The schema's search path still applies: the migrated tables are found, and read.
      const keys = await standby.db.selectFrom('api_keys').select('id').execute();
      assert.deepEqual(keys, []);
      // A write fails as it would on a standby (25006, answered 503 database_unavailable).
      await assert.rejects(
        standby.writeTransaction((trx) =>
          trx.insertInto('units').values({ id: 'unit_x', name: 'x', created_at: 1 }).execute(),
        ),
        (error: { code?: string }) => error.code === '25006',
      );
    } finally {
      await standby.close();
    }
  });
});
