import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { createApiKey } from '../src/domain/api-keys.ts';
import { SqlApiKeyStore } from '../src/store/api-keys/store.ts';
import { unitTotals } from '../src/store/monitoring/count-by-status-and-unit.ts';
import { SqlUnitStore } from '../src/store/units/store.ts';
import { message, request, startTestService, TEST_ENGINE } from './helpers.ts';

/**
 * `tegami_messages` needs each unit's number of messages. A full count scans an index of every
 * message, so it runs seldom; in between only the messages above a cursor id are counted.
 */
describe(`each unit's number of messages (${TEST_ENGINE})`, () => {
  test('a full count, then only the newest messages: exact, each message counted once', async () => {
    const tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    try {
      const handle = tegami.service.database;
      assert.equal((await tegami.request('POST', '/v1/units', { name: 'shop' })).status, 201);
      const shopId = (await new SqlUnitStore(handle).findByName('shop'))?.id ?? '';
      const shopKey = (
        await createApiKey(new SqlApiKeyStore(handle), 'shop app', Date.now(), { unitId: shopId })
      ).key;
      const submit = async (n: number, key?: string) => {
        for (let i = 0; i < n; i++) {
          const r = key
            ? await request(tegami.url, 'POST', '/v1/messages', message(), {}, key)
            : await tegami.request('POST', '/v1/messages', message());
          assert.equal(r.status, 202, JSON.stringify(r.body));
        }
      };
      const truth = async () => {
        const { rows } = await sql<{ unit_id: string; n: number | string }>`
          select unit_id, count(*) as n from messages group by unit_id`.execute(handle.db);
        return new Map(rows.map((r) => [r.unit_id, Number(r.n)]));
      };

      await submit(2);
      await submit(1, shopKey);
      const start = Date.now();
      assert.deepEqual(await unitTotals(handle, start, true), await truth());
      // New mail lies above the cursor (a minute behind the clock): counted without a full scan.
      await submit(2);
      await submit(3, shopKey);
      const afterNew = await unitTotals(handle, start, false);
      assert.deepEqual(afterNew, await truth());
      assert.equal(afterNew.get(shopId), 4);
      // Minutes later the cursor has passed that mail: it moves below it, counted once.
      assert.deepEqual(await unitTotals(handle, start + 120_000, false), await truth());
      assert.deepEqual(await unitTotals(handle, start + 180_000, false), await truth());
      // Mail whose id is already below the cursor (here: written "three minutes late") is seen
      // only by the next full count.
      await submit(1, shopKey);
      assert.equal((await unitTotals(handle, start + 180_000, false)).get(shopId), 4);
      const full = await unitTotals(handle, start + 180_000, true);
      assert.deepEqual(full, await truth());
      assert.equal(full.get(shopId), 5);
    } finally {
      await tegami.stop();
    }
  });
});
