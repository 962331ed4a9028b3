import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { firstIdAt } from '../src/domain/ids.ts';
import { startClusterJobs } from '../src/ops/cluster-jobs.ts';
import {
  createMaintenanceStore,
  type DatabaseHandle,
  migrateToLatest,
  openDatabase,
  SqlLeaderLease,
  SqlMessageStore,
} from '../src/store/index.ts';
import { TEST_ENGINE, type TempDatabase, tempDatabase } from './helpers.ts';

describe(`leader lease and retention (${TEST_ENGINE})`, () => {
  let temp: TempDatabase;
  let database: DatabaseHandle;

  before(async () => {
    temp = tempDatabase();
    database = openDatabase(temp.url);
    await migrateToLatest(database.db);
  });
  after(async () => {
    await database.close();
    temp.cleanup();
  });

  test('one holder at a time; it renews; another takes over only once it expired', async () => {
    const a = new SqlLeaderLease(database, 'test-lease', 'host-a/1/a');
    const b = new SqlLeaderLease(database, 'test-lease', 'host-b/2/b');
    assert.equal(await a.acquire(30_000, 1_000), true);
    assert.equal(await b.acquire(30_000, 2_000), false, 'held by a');
    assert.equal(await a.acquire(30_000, 20_000), true, 'a renews');
    assert.equal(await b.acquire(30_000, 40_000), false, 'renewed until 50,000');
    assert.equal(await b.acquire(30_000, 50_001), true, 'a stopped renewing (died): b takes over');
    assert.equal(await a.acquire(30_000, 50_002), false, 'a came back too late');
    await b.release();
    assert.equal(await a.acquire(30_000, 50_003), true, 'a clean release hands over at once');
  });

  test('retention deletes finished messages older than the cut-off, with everything of theirs', async () => {
    const messages = new SqlMessageStore(database);
    const day = 24 * 3600_000;
    const now = Date.now();
    const content = {
      from: { email: 'a@example.com' },
      to: [{ email: 'b@example.com' }],
      cc: [],
      bcc: [],
      subject: 's',
      text: 't',
      headers: {},
      categories: ['c'],
      metadata: { k: 'v' },
      attachments: [],
    };
    // Ids carry their creation time; make two old ones and one recent one.
    const oldSent = `${firstIdAt('msg', now - 100 * day).slice(0, -1)}1`;
    const oldQueued = `${firstIdAt('msg', now - 100 * day).slice(0, -1)}2`;
    const recent = `${firstIdAt('msg', now - day).slice(0, -1)}3`;
    await messages.submit({
      messages: [oldSent, oldQueued, recent].map((id) => ({
        id,
        apiKeyId: null,
        content,
        sendAt: null,
        createdAt: now,
      })),
    });
    await database.db
      .updateTable('messages')
      .set({ status: 'sent' })
      .where('id', 'in', [oldSent, recent])
      .execute();
    await database.db
      .insertInto('attempts')
      .values({
        message_id: oldSent,
        number: 1,
        provider: 'sandbox',
        started_at: now,
        duration_ms: 1,
        outcome: 'accepted',
        http_status: null,
        provider_message_id: null,
        error_class: null,
        detail: null,
        response_excerpt: null,
        provider_fault: null,
        provider_errors: null,
        rate_limit: null,
        network_error: null,
      })
      .execute();

    const jobs = startClusterJobs({
      store: createMaintenanceStore(database, messages),
      retentionDays: 90,
      logger: pino({ level: 'silent' }),
      intervalMs: 60_000,
    });
    assert.equal(await jobs.tick(), true, 'the only process takes the lease');
    await jobs.stop();

    const left = await database.db.selectFrom('messages').select('id').orderBy('id').execute();
    assert.deepEqual(
      left.map((r) => r.id),
      [oldQueued, recent],
      'old sent mail is gone; unsent mail is never pruned',
    );
    for (const table of [
      'recipients',
      'attempts',
      'message_categories',
      'message_metadata',
    ] as const) {
      const rows = await database.db
        .selectFrom(table)
        .select('message_id')
        .where('message_id', '=', oldSent)
        .execute();
      assert.equal(rows.length, 0, `${table} rows of the pruned message are gone`);
    }
  });
});
