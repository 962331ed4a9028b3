import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { databaseReadiness } from '../src/cli/readiness.ts';
import type { DatabaseHandle } from '../src/store/index.ts';
import { migratedDatabase } from './helpers.ts';

/**
 * A check that never settles (a query on a connection whose packets are dropped: no statement or
 * socket timeout is set) was shared by every later probe, so /readyz stayed 503 after the
 * database answered again. A check older than 15 deadlines is left to settle on its own.
 */
describe('readiness after a check that never settles', () => {
  const database = migratedDatabase();
  let handle: DatabaseHandle;
  before(() => {
    handle = database.handle;
  });

  test('a later probe, once the database answers, is ready', async () => {
    // A server's sockets keep the event loop alive; here this does (readiness unrefs its timer).
    const alive = setInterval(() => {}, 50);
    after(() => clearInterval(alive));
    let calls = 0;
    const database: DatabaseHandle = {
      ...handle,
      // The first check's connection went dead; every later question is answered at once.
      readOnly: () => (++calls === 1 ? new Promise<boolean>(() => {}) : Promise.resolve(false)),
    };
    const readiness = databaseReadiness(database, 200, 500);
    assert.equal((await readiness()).ready, false, 'the hung check: 503 within the deadline');
    await new Promise((r) => setTimeout(r, 1000));
    const later = await readiness();
    assert.deepEqual({ later, checksStarted: calls }, { later: { ready: true }, checksStarted: 2 });
  });

  test('a check that rejects is not kept', async () => {
    let calls = 0;
    const database: DatabaseHandle = {
      ...handle,
      readOnly: () => (++calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve(false)),
    };
    const readiness = databaseReadiness(database, 200);
    assert.match((await readiness()).reason ?? '', /boom/);
    assert.deepEqual(await readiness(), { ready: true });
  });
});
