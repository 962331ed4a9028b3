import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { newId } from '../src/domain/ids.ts';
import { recoveryOutcome } from '../src/domain/operations/recovery.ts';
import { type DatabaseHandle, SqlMessageStore, SqlRecoveryStore } from '../src/store/index.ts';
import {
  createUnitWithKey,
  message,
  migratedDatabase,
  request,
  startTestService,
  storeOneMessage,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

/**
 * What became of the mail a retry recovery requeued: `GET /v1/recoveries/{id}` counts it by its
 * status now (`outcome`), long after the recovery's set was deleted. A message counts toward the
 * last recovery that requeued it; only the recovery's own unit sees it.
 */
describe(`a recovery's outcome (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let hotelKey = '';
  let restaurantKey = '';
  const as = (key: string) => (method: string, path: string, body?: unknown) =>
    request(tegami.url, method, path, body, {}, key);

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      // One failure dead-letters the message.
      TEGAMI_RETRY_MAX_ATTEMPTS: '1',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    hotelKey = (await createUnitWithKey(tegami, 'hotel')).key;
    restaurantKey = (await createUnitWithKey(tegami, 'restaurant')).key;
  });
  after(async () => {
    await tegami.stop();
  });

  async function settled(key: string, id: string) {
    return waitFor(async () => {
      const r = await as(key)('GET', `/v1/recoveries/${id}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.state !== 'running' && r.body.outcome?.waiting === 0 ? r.body : null;
    }, `recovery ${id} done and its mail tried`);
  }

  test('requeued mail that went out, failed again, and was requeued by a later recovery', async () => {
    const hotel = as(hotelKey);
    // The provider fails each message once: `retryable-1` is sent on its retry, `permanent`
    // never is.
    const messages = [
      ...Array.from({ length: 6 }, (_, i) => `retryable-1+${i}@example.jp`),
      ...Array.from({ length: 2 }, (_, i) => `permanent+${i}@example.jp`),
    ].map((email) => message({ to: [{ email }], categories: ['outcome'] }));
    const submitted = await hotel('POST', '/v1/messages/batch', { messages });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    await waitFor(async () => {
      const l = await hotel('GET', '/v1/messages?status=failed&category=outcome&count=true');
      return l.body.total === messages.length;
    }, 'every message dead-lettered');

    const filter = { status: 'failed', category: 'outcome' };
    const first = await hotel('POST', '/v1/recoveries', {
      action: 'retry',
      filter,
      dry_run: false,
    });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const firstDone = await settled(hotelKey, first.body.id);
    assert.equal(firstDone.state, 'done');
    assert.equal(firstDone.done, 8);
    assert.deepEqual(firstDone.outcome, {
      sent: 6,
      failed: 2,
      waiting: 0,
      cancelled: 0,
      moved_on: 0,
    });

    // Another unit's key does not see the recovery, nor its counts.
    const other = await as(restaurantKey)('GET', `/v1/recoveries/${first.body.id}`);
    assert.equal(other.status, 404);
    assert.equal(other.body.outcome, undefined);

    // A second recovery takes the two that failed again: from now on they count toward it.
    const second = await hotel('POST', '/v1/recoveries', {
      action: 'retry',
      filter,
      dry_run: false,
    });
    assert.equal(second.body.matched, 2);
    const secondDone = await settled(hotelKey, second.body.id);
    assert.deepEqual(secondDone.outcome, {
      sent: 0,
      failed: 2,
      waiting: 0,
      cancelled: 0,
      moved_on: 0,
    });
    const firstNow = await hotel('GET', `/v1/recoveries/${first.body.id}`);
    assert.deepEqual(firstNow.body.outcome, {
      sent: 6,
      failed: 0,
      waiting: 0,
      cancelled: 0,
      moved_on: 2,
    });

    // An admin key sees it too; the list and the start answer carry no outcome.
    assert.deepEqual(
      (await tegami.request('GET', `/v1/recoveries/${first.body.id}`)).body.outcome,
      firstNow.body.outcome,
    );
    const listed = await hotel('GET', '/v1/recoveries');
    assert.equal(listed.body.data[0].outcome, undefined);

    // The console's recovery page says it in one line.
    const operatorConsole = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const page = await operatorConsole.get(`/console/recoveries/${first.body.id}`);
    assert.equal(page.status, 200);
    const line = /<p id="outcome">(.*?)<\/p>/s.exec(page.text)?.[1]?.replace(/<[^>]+>/g, '');
    assert.equal(
      line,
      'Of 8 messages requeued: 6 sent since, 0 failed again, 0 still waiting, 2 requeued again by a later recovery or no longer stored.',
    );
  });

  test('a cancel recovery has no outcome', async () => {
    const cancel = await as(hotelKey)('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { category: 'nothing-of-this' },
      dry_run: false,
    });
    assert.equal(cancel.status, 202);
    const got = await as(hotelKey)('GET', `/v1/recoveries/${cancel.body.id}`);
    assert.equal(got.body.state, 'done');
    assert.equal(got.body.outcome, null);
  });
});

/**
 * The same counts straight from the store, with no worker to send the requeued mail: each
 * status group, a recovery that keeps no outcome, and the index the count reads.
 */
describe(`a recovery's outcome in the store (${TEST_ENGINE})`, () => {
  const database = migratedDatabase();
  let handle: DatabaseHandle;
  let messages: SqlMessageStore;
  let recoveries: SqlRecoveryStore;
  before(() => {
    handle = database.handle;
    messages = new SqlMessageStore(handle);
    recoveries = new SqlRecoveryStore(handle);
  });

  test('counts the requeued messages by status now; the rest have moved on', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await storeOneMessage(messages));
    await handle.db.updateTable('messages').set({ status: 'failed' }).execute();
    const unitId = (await handle.db.selectFrom('messages').select('unit_id').executeTakeFirst())
      ?.unit_id as string;
    const now = Date.now();
    const actor = { type: 'cli' as const, id: 'test', name: null };
    const id = newId('rec');
    await recoveries.start(
      { id, unitId, action: 'retry', filter: {}, ratePerS: null, actor, createdAt: now },
      { unitId, status: 'failed', limit: 0 },
      {
        id: newId('aud'),
        at: now,
        actor,
        unitId,
        action: 'recovery.start',
        target: id,
        filter: null,
        counts: null,
      },
    );
    assert.ok(await recoveries.acquire(id, 'test-owner', now, 60_000, null));
    assert.equal((await recoveries.runChunk(id, 'test-owner', now, 100, 60_000)).kind, 'progress');
    assert.equal((await recoveries.runChunk(id, 'test-owner', now, 100, 60_000)).kind, 'finished');

    const outcome = async () => {
      const found = await recoveries.getWithOutcome(id, unitId);
      assert.ok(found);
      return found.statuses && recoveryOutcome(found.record.done, found.statuses);
    };
    assert.deepEqual(await outcome(), {
      sent: 0,
      failed: 0,
      waiting: 5,
      cancelled: 0,
      movedOn: 0,
    });
    const setStatus = (messageId: string, status: string, recoveryId?: string) =>
      handle.db
        .updateTable('messages')
        .set({ status, ...(recoveryId ? { last_recovery_id: recoveryId } : {}) })
        .where('id', '=', messageId)
        .execute();
    await setStatus(ids[0] as string, 'sent');
    await setStatus(ids[1] as string, 'failed');
    await setStatus(ids[2] as string, 'cancelled');
    await setStatus(ids[3] as string, 'sending');
    await setStatus(ids[4] as string, 'queued', 'rec_a_later_one');
    assert.deepEqual(await outcome(), {
      sent: 1,
      failed: 1,
      waiting: 1,
      cancelled: 1,
      movedOn: 1,
    });

    assert.equal(await recoveries.getWithOutcome(id, 'unit_of_someone_else'), null);
    // A recovery from before outcomes were kept: none, rather than "nothing was sent".
    await handle.db.updateTable('recoveries').set({ outcome_tracked: 0 }).execute();
    assert.equal((await recoveries.getWithOutcome(id))?.statuses, null);
  });

  test('the count reads the index of requeued messages only', async () => {
    const plan = await handle.db.transaction().execute(async (trx) => {
      if (handle.engine === 'postgres') {
        // A few rows: make the planner show whether it can use the index at all.
        await sql`set local enable_seqscan = off`.execute(trx);
        const rows = await sql<{ 'QUERY PLAN': string }>`explain select status, count(*)
          from messages where last_recovery_id = ${'rec_x'} group by status`.execute(trx);
        return rows.rows.map((r) => r['QUERY PLAN']).join('\n');
      }
      const rows = await sql<{ detail: string }>`explain query plan select status, count(*)
        from messages where last_recovery_id = ${'rec_x'} group by status`.execute(trx);
      return rows.rows.map((r) => r.detail).join('\n');
    });
    assert.match(plan, /messages_recovery_outcome/);
  });
});
