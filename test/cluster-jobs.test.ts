import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import pino from 'pino';
import { firstIdAt, newId } from '../src/domain/ids.ts';
import type { MaintenanceStore } from '../src/domain/ports/maintenance-store.ts';
import { RETENTION_FIRST_BATCH, RETENTION_MAX_BATCH } from '../src/domain/retention.ts';
import { type ClusterJobsDeps, startClusterJobs } from '../src/ops/cluster-jobs.ts';
import {
  createMaintenanceStore,
  type DatabaseHandle,
  indexSubjects,
  migrateToLatest,
  openDatabase,
  SqlLeaderLease,
  SqlMessageStore,
  SqlRecoveryStore,
} from '../src/store/index.ts';
import { finishedMessagesToPrune } from '../src/store/messages/prune-finished.ts';
import { expiredIdempotencyKeysDelete } from '../src/store/messages/prune-idempotency-keys.ts';
import {
  acceptedAttempt,
  spawnTegami,
  TEST_ENGINE,
  TEST_KEY,
  type TempDatabase,
  tempDatabase,
  waitFor,
} from './helpers.ts';

const DAY = 24 * 3600_000;

/** An id made at `ms`, told apart from others of that millisecond by `n`. */
const idAt = (prefix: 'msg' | 'whd', ms: number, n: number) =>
  `${firstIdAt(prefix, ms).slice(0, -6)}${String(n).padStart(6, '0')}`;

const content = (n: number) => ({
  from: { email: 'a@example.com' },
  to: [{ email: `guest-${n}@example.com` }],
  cc: [{ email: 'desk@example.com' }],
  bcc: [],
  subject: `Booking ${n}`,
  text: 't',
  headers: {},
  categories: ['booking', 'transactional'],
  metadata: { booking_id: String(n), site: 'hotel' },
  attachments: [],
});

/** Stores messages with these ids, then sets their status, as the API and the worker would. */
async function storeMessages(
  database: DatabaseHandle,
  messages: SqlMessageStore,
  ids: string[],
  status: string,
) {
  const now = Date.now();
  for (let i = 0; i < ids.length; i += 500) {
    await messages.submit({
      messages: ids.slice(i, i + 500).map((id, j) => ({
        id,
        apiKeyId: null,
        content: content(i + j),
        sendAt: null,
        createdAt: now,
      })),
    });
  }
  if (status === 'queued') return;
  for (let i = 0; i < ids.length; i += 500) {
    await database.db
      .updateTable('messages')
      .set({
        status,
        ...(status === 'sending'
          ? { lease_owner: 'elsewhere.example/1/x', lease_expires_at: now + DAY }
          : {}),
        ...(status === 'scheduled' ? { send_at: now + DAY, next_attempt_at: now + DAY } : {}),
      })
      .where('id', 'in', ids.slice(i, i + 500))
      .execute();
  }
}

/** An attempt and two delivery events of each message, as a send and SendGrid's events leave. */
async function addAttemptsAndEvents(database: DatabaseHandle, ids: string[]) {
  const now = Date.now();
  for (let i = 0; i < ids.length; i += 200) {
    const part = ids.slice(i, i + 200);
    await database.db
      .insertInto('attempts')
      .values(
        part.map((id) => acceptedAttempt(id, `sg-${id}`, { started_at: now, duration_ms: 40 })),
      )
      .execute();
    await database.db
      .insertInto('delivery_events')
      .values(
        part.flatMap((id) =>
          ['processed', 'delivered'].map((event) => ({
            event_key: `sendgrid:${event}-${id}`,
            provider: 'sendgrid',
            message_id: id,
            email_normalized: 'guest@example.com',
            event,
            occurred_at: now,
            received_at: now,
            provider_message_id: `sg-${id}`,
            payload: '{}',
          })),
        ),
      )
      .execute();
  }
}

/** Status webhooks made at `ms` (their ids carry it), one per message. */
async function addStatusWebhooks(
  database: DatabaseHandle,
  messageIds: string[],
  ms: number,
  status: 'pending' | 'delivered',
  from = 0,
) {
  for (let i = 0; i < messageIds.length; i += 200) {
    await database.db
      .insertInto('webhook_deliveries')
      .values(
        messageIds.slice(i, i + 200).map((messageId, j) => ({
          id: idAt('whd', ms, from + i + j),
          endpoint_id: 'whk_test',
          event_type: 'message.sent',
          payload: JSON.stringify({ data: { message_id: messageId } }),
          message_id: messageId,
          status,
          attempts: status === 'delivered' ? 1 : 0,
          next_attempt_at: status === 'delivered' ? null : Date.now() + 3600_000,
          last_status: status === 'delivered' ? 200 : null,
          last_error: null,
          created_at: ms,
          retry_from: ms,
          delivered_at: status === 'delivered' ? ms : null,
        })),
      )
      .execute();
  }
}

/** `n` idempotency keys of an API key, used at `ms`, named `prefix-<from + i>`. */
async function addIdempotencyKeys(
  database: DatabaseHandle,
  apiKeyId: string,
  prefix: string,
  n: number,
  ms: number,
) {
  for (let i = 0; i < n; i += 500) {
    await database.db
      .insertInto('idempotency_keys')
      .values(
        Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
          api_key_id: apiKeyId,
          key: `${prefix}-${i + j}`,
          request_hash: 'h',
          response_status: 202,
          response_body: '{"id":"msg_x"}',
          created_at: ms,
        })),
      )
      .execute();
  }
}

/** The idempotency keys stored, as `<api key>/<key>`, sorted. */
async function idempotencyKeys(database: DatabaseHandle, prefix: string): Promise<string[]> {
  const rows = await database.db
    .selectFrom('idempotency_keys')
    .select(['api_key_id', 'key'])
    .where('key', 'like', `${prefix}-%`)
    .execute();
  return rows.map((r) => `${r.api_key_id}/${r.key}`).sort();
}

/** The cluster jobs with 90 days' retention, run a round at a time by `tick()`. */
const clusterJobs = (store: MaintenanceStore, deps: Partial<ClusterJobsDeps> = {}) =>
  startClusterJobs({
    store,
    retentionDays: 90,
    logger: pino({ level: 'silent' }),
    intervalMs: 60_000,
    ...deps,
  });

/** Rows of `table` whose message is gone. */
async function orphans(database: DatabaseHandle, table: string): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}
      where message_id is not null and message_id not in (select id from messages)`.execute(
    database.db,
  );
  return Number(rows[0]?.n);
}

/** The tables that hold rows of a message, the subject index among them. */
const childTables = (database: DatabaseHandle) => [
  'recipients',
  'message_categories',
  'message_metadata',
  'attempts',
  'delivery_events',
  database.dialect.subjectIndexName,
];

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
    // Ids carry their creation time; make two old ones and one recent one.
    const oldSent = `${firstIdAt('msg', now - 100 * day).slice(0, -1)}1`;
    const oldQueued = `${firstIdAt('msg', now - 100 * day).slice(0, -1)}2`;
    const recent = `${firstIdAt('msg', now - day).slice(0, -1)}3`;
    await storeMessages(database, messages, [oldSent, recent], 'sent');
    await storeMessages(database, messages, [oldQueued], 'queued');
    await database.db
      .insertInto('attempts')
      .values(
        acceptedAttempt(oldSent, null, {
          provider: 'sandbox',
          started_at: now,
          duration_ms: 1,
          http_status: null,
        }),
      )
      .execute();

    const jobs = clusterJobs(createMaintenanceStore(database, messages));
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
  test('retention keeps unfinished mail however old, younger mail and mail a running recovery waits for; leaves nothing of what it deletes', async (t) => {
    const messages = new SqlMessageStore(database);
    const recoveries = new SqlRecoveryStore(database);
    const now = Date.now();
    const cutoff = now - 90 * DAY;
    const old = now - 120 * DAY;
    const ids = (n: number, ms: number, from: number) =>
      Array.from({ length: n }, (_, i) => idAt('msg', ms, from + i));
    const inRecovery = ids(4, old, 9_000);
    const oldSent = ids(30, old, 1_000);
    const oldFailed = ids(10, old, 2_000);
    const oldCancelled = ids(5, old, 3_000);
    const justOlder = ids(2, cutoff - 60_000, 4_000);
    const justYounger = ids(2, cutoff + 60_000, 5_000);
    const oldQueued = ids(3, old, 6_000);
    const oldScheduled = ids(3, old, 7_000);
    const oldSending = ids(3, old, 8_000);
    // Old dead letters an operator is retrying in a recovery that has not reached them yet.
    await storeMessages(database, messages, inRecovery, 'failed');
    const unitId = (
      await database.db
        .selectFrom('messages')
        .select('unit_id')
        .where('id', '=', inRecovery[0] as string)
        .executeTakeFirstOrThrow()
    ).unit_id;
    const actor = { type: 'cli' as const, id: 'test', name: null };
    const recoveryId = newId('rec');
    const audit = {
      id: newId('aud'),
      at: now,
      actor,
      unitId,
      action: 'recovery.start' as const,
      target: recoveryId,
      filter: null,
      counts: null,
    };
    const started = await recoveries.start(
      {
        id: recoveryId,
        unitId,
        action: 'retry',
        filter: {},
        ratePerS: null,
        actor,
        createdAt: now,
      },
      { unitId, status: 'failed', limit: 0 },
      audit,
    );
    assert.equal(started.matched, inRecovery.length);
    await storeMessages(database, messages, [...oldSent, ...justOlder, ...justYounger], 'sent');
    await storeMessages(database, messages, oldFailed, 'failed');
    await storeMessages(database, messages, oldCancelled, 'cancelled');
    await storeMessages(database, messages, oldQueued, 'queued');
    await storeMessages(database, messages, oldScheduled, 'scheduled');
    await storeMessages(database, messages, oldSending, 'sending');
    const finished = [...oldSent, ...oldFailed, ...oldCancelled, ...justOlder, ...justYounger];
    await addAttemptsAndEvents(database, [...finished, ...inRecovery]);
    // Status webhooks: some of pruned mail still being posted, some delivered long ago, some
    // delivered recently.
    await addStatusWebhooks(database, oldSent.slice(0, 10), old, 'pending', 0);
    await addStatusWebhooks(database, oldSent, old + 1_000, 'delivered', 100);
    await addStatusWebhooks(database, justYounger, cutoff + 60_000, 'delivered', 200);
    while ((await indexSubjects(database, now + DAY)) > 0);
    // Idempotency keys of two API keys, remembered for a day: used long ago and just over a day
    // ago (they go), and just under a day ago and now (they stay).
    for (const apiKeyId of ['key_a', 'key_b']) {
      await addIdempotencyKeys(database, apiKeyId, 'gone-long', 3, now - 30 * DAY);
      await addIdempotencyKeys(database, apiKeyId, 'gone-just', 3, now - DAY - 60_000);
      await addIdempotencyKeys(database, apiKeyId, 'kept-just', 3, now - DAY + 60_000);
      await addIdempotencyKeys(database, apiKeyId, 'kept-now', 3, now);
    }

    const jobs = clusterJobs(createMaintenanceStore(database, messages));
    t.after(() => jobs.stop());
    assert.equal(await jobs.tick(), true);
    const left = async (list: string[]) =>
      (await database.db.selectFrom('messages').select('id').where('id', 'in', list).execute())
        .map((r) => r.id)
        .sort();
    const kept = [...justYounger, ...oldQueued, ...oldScheduled, ...oldSending, ...inRecovery];
    assert.deepEqual(
      await left([...finished, ...kept, ...oldQueued]),
      [...kept].sort(),
      'finished mail older than 90 days is gone; the rest stays',
    );
    for (const table of childTables(database)) {
      assert.equal(await orphans(database, table), 0, `no ${table} rows of deleted messages`);
    }
    const hooks = await database.db
      .selectFrom('webhook_deliveries')
      .select(['message_id', 'status'])
      .where('message_id', 'in', [...oldSent, ...justYounger])
      .execute();
    assert.deepEqual(
      hooks.map((h) => h.status).sort(),
      [...Array(2).fill('delivered'), ...Array(10).fill('pending')],
      'old delivered status webhooks are gone; pending ones are still posted; recent ones stay',
    );
    assert.deepEqual(await idempotencyKeys(database, 'gone'), [], 'keys over a day old are gone');
    assert.deepEqual(
      await idempotencyKeys(database, 'kept'),
      ['key_a', 'key_b']
        .flatMap((k) => [0, 1, 2].flatMap((i) => [`${k}/kept-just-${i}`, `${k}/kept-now-${i}`]))
        .sort(),
      'keys of the last day stay',
    );

    // Once the recovery no longer waits for them, they go too.
    await recoveries.cancel(recoveryId, undefined, Date.now(), () => ({
      ...audit,
      id: newId('aud'),
      action: 'recovery.cancel' as const,
    }));
    await jobs.tick();
    assert.deepEqual(await left(inRecovery), []);
    for (const table of childTables(database)) assert.equal(await orphans(database, table), 0);
  });

  test('retention deletes in short transactions, leaving the database to others in between', async (t) => {
    const messages = new SqlMessageStore(database);
    const old = Date.now() - 200 * DAY;
    const ids = Array.from({ length: 1_500 }, (_, i) => idAt('msg', old, 100_000 + i));
    await storeMessages(database, messages, ids, 'sent');
    await addStatusWebhooks(database, ids, old, 'delivered', 100_000);
    // A day's idempotency keys and more, as after a stop of two days.
    await addIdempotencyKeys(database, 'key_p', 'paced', 1_500, Date.now() - 2 * DAY);
    const real = createMaintenanceStore(database, messages);
    const calls: { kind: string; limit: number; deleted: number; began: number; ended: number }[] =
      [];
    // The real store, with each call timed.
    const timed =
      (kind: string, prune: (before: number, limit: number) => Promise<number>) =>
      async (before: number, limit: number) => {
        const began = performance.now();
        const deleted = await prune(before, limit);
        calls.push({ kind, limit, deleted, began, ended: performance.now() });
        return deleted;
      };
    const store: MaintenanceStore = {
      ...real,
      pruneFinishedMessages: timed('messages', real.pruneFinishedMessages),
      pruneStatusWebhooks: timed('status webhooks', real.pruneStatusWebhooks),
      pruneIdempotencyKeys: timed('idempotency keys', real.pruneIdempotencyKeys),
    };
    const jobs = clusterJobs(store);
    t.after(() => jobs.stop());
    const remaining = async () =>
      (await database.db.selectFrom('messages').select('id').where('id', 'in', ids).execute())
        .length +
      (
        await database.db
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('message_id', 'in', ids)
          .execute()
      ).length +
      (await idempotencyKeys(database, 'paced')).length;
    // Rounds until all is gone (one, unless the machine is very slow).
    for (let i = 0; i < 20 && (await remaining()) > 0; i++) await jobs.tick();
    assert.equal(await remaining(), 0);
    for (const kind of ['messages', 'status webhooks', 'idempotency keys']) {
      const work = calls.filter((c) => c.kind === kind && c.deleted > 0);
      assert.ok(work.length >= 3, `${kind}: 1,500 rows in several transactions (${work.length})`);
      for (const c of work) assert.ok(c.deleted <= RETENTION_MAX_BATCH, `${kind}: ${c.deleted}`);
      for (let i = 1; i < work.length; i++) {
        const last = work[i - 1] as (typeof work)[number];
        const gap = (work[i] as (typeof work)[number]).began - last.ended;
        assert.ok(
          gap >= last.ended - last.began,
          `${kind}: a pause of ${gap.toFixed(1)} ms after a transaction of ${(last.ended - last.began).toFixed(1)} ms`,
        );
      }
      assert.equal(work[0]?.limit, RETENTION_FIRST_BATCH, `${kind}: the first transaction`);
    }
  });

  test('a finished message another transaction is changing is not deleted under it', async () => {
    const messages = new SqlMessageStore(database);
    const store = createMaintenanceStore(database, messages);
    const old = Date.now() - 300 * DAY;
    const retried = idAt('msg', old, 1);
    const other = idAt('msg', old, 2);
    await storeMessages(database, messages, [retried, other], 'failed');
    let pruning: Promise<number> | undefined;
    await database.db.transaction().execute(async (trx) => {
      // An old dead letter retried by hand, not yet committed when retention picks messages.
      await trx
        .updateTable('messages')
        .set({ status: 'queued' })
        .where('id', '=', retried)
        .execute();
      pruning = store.pruneFinishedMessages(Date.now() - 90 * DAY, 100);
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    await pruning;
    const row = await database.db
      .selectFrom('messages')
      .select('status')
      .where('id', '=', retried)
      .executeTakeFirst();
    assert.equal(row?.status, 'queued', 'the retried message is there, queued');
    const recipients = await database.db
      .selectFrom('recipients')
      .select('email')
      .where('message_id', '=', retried)
      .execute();
    assert.equal(recipients.length, 2, 'with its recipients');
    assert.equal(
      (await database.db.selectFrom('messages').select('id').where('id', '=', other).execute())
        .length,
      0,
      'the other old dead letter is gone',
    );
  });
  test('the longest retention (36,500 days) deletes nothing, and the round goes on to the other jobs', async (t) => {
    const messages = new SqlMessageStore(database);
    const old = Date.now() - 300 * DAY;
    const id = idAt('msg', old, 77);
    await storeMessages(database, messages, [id], 'sent');
    await addStatusWebhooks(database, [id], old, 'delivered', 77);
    let extraJobRan = false;
    const jobs = clusterJobs(createMaintenanceStore(database, messages), {
      retentionDays: 36_500,
      extraJobs: [
        async () => {
          extraJobRan = true;
        },
      ],
    });
    t.after(() => jobs.stop());
    assert.equal(await jobs.tick(), true, 'the round ran to its end');
    assert.equal(extraJobRan, true, 'the jobs after retention ran');
    const left = await database.db
      .selectFrom('messages')
      .select('id')
      .where('id', '=', id)
      .execute();
    assert.equal(left.length, 1, 'mail from 300 days ago is kept');
    const hooks = await database.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('message_id', '=', id)
      .execute();
    assert.equal(hooks.length, 1, 'and its status webhook');
  });
  test('a round longer than the interval is followed by one round, not by the ticks it took', async (t) => {
    const real = createMaintenanceStore(database, new SqlMessageStore(database));
    // When each round began: it first takes or renews the lease.
    const began: number[] = [];
    const store: MaintenanceStore = {
      ...real,
      leaderLease: (name, holder) => {
        const lease = real.leaderLease(name, holder);
        return {
          acquire: (ttlMs, now) => {
            began.push(performance.now());
            return lease.acquire(ttlMs, now);
          },
          release: () => lease.release(),
        };
      },
    };
    const INTERVAL_MS = 200;
    let slow: { began: number; ended: number } | undefined;
    const jobs = clusterJobs(store, {
      // The first round's last job takes as long as 7 intervals.
      extraJobs: [
        async () => {
          if (slow) return;
          const start = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 7 * INTERVAL_MS));
          slow = { began: start, ended: performance.now() };
        },
      ],
      intervalMs: INTERVAL_MS,
    });
    t.after(() => jobs.stop());
    await waitFor(async () => slow !== undefined, 'the slow round', 10_000, 20);
    await new Promise((resolve) => setTimeout(resolve, 5 * INTERVAL_MS));
    await jobs.stop();
    const { began: slowBegan, ended: slowEnded } = slow as { began: number; ended: number };
    assert.deepEqual(
      began.filter((at) => at > slowBegan && at < slowEnded),
      [],
      'no round began while the slow one ran',
    );
    const later = began.filter((at) => at >= slowEnded);
    assert.ok(later.length >= 2, `rounds went on after it (${later.length})`);
    // The first at once; then one an interval after the one before (a little early at most:
    // timers count whole milliseconds), not the ticks of 7 intervals back to back.
    for (let i = 1; i < later.length; i++) {
      const gap = (later[i] as number) - (later[i - 1] as number);
      assert.ok(
        gap >= INTERVAL_MS - 5,
        `${gap.toFixed(1)} ms between rounds ${i} and ${i + 1} after the slow one`,
      );
    }
  });

  test("retention's statements read through indexes on a database without statistics (their plans)", async () => {
    const fresh = tempDatabase();
    const handle = openDatabase(fresh.url);
    try {
      await migrateToLatest(handle.db);
      const plan = (query: { sql: string; parameters: readonly unknown[] }) =>
        handle.db.transaction().execute(async (trx) => {
          if (handle.engine === 'postgres') {
            // Empty tables: make the planner show whether it can use the indexes at all.
            await sql`set local enable_seqscan = off`.execute(trx);
            const rows = await trx.executeQuery<{ 'QUERY PLAN': string }>(
              CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]),
            );
            return rows.rows.map((r) => r['QUERY PLAN']).join('\n');
          }
          const rows = await trx.executeQuery<{ detail: string }>(
            CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]),
          );
          return rows.rows.map((r) => r.detail).join('\n');
        });
      const sqlite = handle.engine === 'sqlite';
      // Finished messages, in id order; "kept while a running recovery waits on it" looks each
      // one up in the partial index of pending entries.
      const messages = await plan(
        finishedMessagesToPrune(handle, handle.db, Date.now() - 90 * DAY, 100).compile(),
      );
      if (sqlite) {
        assert.match(messages, /SEARCH messages USING INDEX sqlite_autoindex_messages_1 \(id<\?\)/);
        assert.match(
          messages,
          /SEARCH recovery_items USING COVERING INDEX recovery_items_pending \(message_id=\?\)/,
        );
        assert.doesNotMatch(messages, /SCAN|TEMP B-TREE/, messages);
      } else {
        // PostgreSQL orders by its own statistics (none here); what matters is that the
        // recovery check can use the index.
        assert.match(messages, /recovery_items_pending/, messages);
        assert.doesNotMatch(messages, /Seq Scan/, messages);
      }
      // Expired idempotency keys: the oldest through the created_at index, deleted by key.
      const keys = await plan(
        expiredIdempotencyKeysDelete(handle.db, Date.now() - DAY, 100).compile(),
      );
      if (sqlite) {
        assert.match(
          keys,
          /SEARCH idempotency_keys USING INDEX idempotency_keys_created \(created_at<\?\)/,
        );
        assert.match(
          keys,
          /SEARCH idempotency_keys USING COVERING INDEX sqlite_autoindex_idempotency_keys_1 \(api_key_id=\? AND key=\?\)/,
        );
        assert.doesNotMatch(keys, /SCAN|TEMP B-TREE/, keys);
      } else {
        assert.match(keys, /idempotency_keys_created/, keys);
        assert.match(keys, /idempotency_keys_pk/, keys);
        assert.doesNotMatch(keys, /Seq Scan/, keys);
      }
    } finally {
      await handle.close();
      await fresh.cleanup();
    }
  });
});

/** The first "retention pruned" line of a `tegami serve` on this database, as logged. */
async function retentionLogLine(temp: TempDatabase): Promise<Record<string, unknown>> {
  const serve = spawnTegami(['serve'], {
    TEGAMI_DATABASE_URL: temp.url,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_LOG_LEVEL: 'info',
  });
  try {
    await serve.ready;
    // The first maintenance round runs as the process starts.
    return await waitFor(
      async () =>
        serve
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => String(l.msg).startsWith('retention pruned')),
      'the retention log line',
      30_000,
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
}

describe(`retention's log line (${TEST_ENGINE})`, () => {
  test('a round that deleted only expired idempotency keys says so in the log, in words', async () => {
    const temp = tempDatabase();
    const database = openDatabase(temp.url);
    try {
      await migrateToLatest(database.db);
      // Nothing old to delete but three keys of two days ago; two of today stay.
      await addIdempotencyKeys(database, 'key_a', 'expired', 3, Date.now() - 2 * DAY);
      await addIdempotencyKeys(database, 'key_a', 'fresh', 2, Date.now());
    } finally {
      await database.close();
    }
    try {
      const line = await retentionLogLine(temp);
      assert.equal(line.msg, 'retention pruned 3 idempotency keys');
      assert.equal(line.component, 'cluster-jobs');
      assert.deepEqual(
        [line.idempotencyKeys, line.pruned, line.statusWebhooks, line.retentionDays],
        [3, 0, 0, 90],
      );
    } finally {
      await temp.cleanup();
    }
  });

  test('a round counts every kind of row it deleted, in the words and in the fields', async () => {
    const temp = tempDatabase();
    const database = openDatabase(temp.url);
    const now = Date.now();
    const old = now - 100 * DAY;
    try {
      await migrateToLatest(database.db);
      const oldSent = [idAt('msg', old, 1), idAt('msg', old, 2)];
      await storeMessages(database, new SqlMessageStore(database), oldSent, 'sent');
      await addStatusWebhooks(database, oldSent.slice(0, 1), old, 'delivered');
      // SendGrid's events for mail Tegami never matched, kept meanwhile for late matching.
      await database.db
        .insertInto('delivery_events')
        .values(
          ['unknown-1', 'unknown-2'].map((id) => ({
            event_key: `sendgrid:delivered-${id}`,
            provider: 'sendgrid',
            message_id: null,
            email_normalized: 'guest@example.com',
            event: 'delivered',
            occurred_at: old,
            received_at: old,
            provider_message_id: `sg-${id}`,
            payload: '{}',
          })),
        )
        .execute();
      // A recovery cancelled long ago, with what it skipped still in its set.
      const recoveryId = newId('rec');
      await database.db
        .insertInto('recoveries')
        .values({
          id: recoveryId,
          unit_id: null,
          action: 'retry',
          filter: '{}',
          rate_per_s: null,
          state: 'cancelled',
          matched: 3,
          done: 0,
          skipped: 3,
          skipped_reasons: '{"cancelled":3}',
          cursor: null,
          actor: '{"type":"cli","id":"test","name":null}',
          created_at: old,
          updated_at: old,
          finished_at: old,
          error: null,
          lease_owner: null,
          lease_expires_at: null,
        })
        .execute();
      await database.db
        .insertInto('recovery_items')
        .values(
          [11, 12, 13].map((n) => ({
            recovery_id: recoveryId,
            message_id: idAt('msg', old, n),
            state: 'skipped',
            reason: 'cancelled',
          })),
        )
        .execute();
      // Events the SendGrid event relay gave up on long ago.
      await database.db
        .insertInto('sendgrid_relay_events')
        .values(
          [1, 2, 3, 4].map((n) => ({
            event_key: `sendgrid:relayed-${n}`,
            unit_id: 'unit_test',
            x_message_id: `sg-relayed-${n}`,
            status: 'failed',
            attempts: 5,
            queued_at: old,
            next_attempt_at: null,
            last_http_status: 500,
            last_error: null,
          })),
        )
        .execute();
      // Operator actions older than the audit log's 400 days.
      await database.db
        .insertInto('audit_events')
        .values(
          [1, 2].map(() => ({
            id: newId('aud'),
            at: now - 500 * DAY,
            actor_type: 'cli',
            actor_id: 'test',
            actor_name: null,
            unit_id: null,
            action: 'message.retry',
            target: 'msg_gone',
            filter: null,
            counts: null,
          })),
        )
        .execute();
      await addIdempotencyKeys(database, 'key_a', 'expired', 3, now - 2 * DAY);
    } finally {
      await database.close();
    }
    try {
      const line = await retentionLogLine(temp);
      assert.equal(
        line.msg,
        'retention pruned 2 messages, 2 unmatched delivery events, 1 status webhook, ' +
          '3 recovery set entries, 4 failed relay events, 2 audit events and 3 idempotency keys',
      );
      assert.deepEqual(
        {
          pruned: line.pruned,
          unmatchedEvents: line.unmatchedEvents,
          statusWebhooks: line.statusWebhooks,
          recoverySetEntries: line.recoverySetEntries,
          failedRelayEvents: line.failedRelayEvents,
          auditEvents: line.auditEvents,
          idempotencyKeys: line.idempotencyKeys,
        },
        {
          pruned: 2,
          unmatchedEvents: 2,
          statusWebhooks: 1,
          recoverySetEntries: 3,
          failedRelayEvents: 4,
          auditEvents: 2,
          idempotencyKeys: 3,
        },
      );
      // What it said it deleted is gone.
      const after = openDatabase(temp.url);
      try {
        for (const table of [
          'messages',
          'delivery_events',
          'webhook_deliveries',
          'recovery_items',
          'sendgrid_relay_events',
          'idempotency_keys',
        ] as const) {
          const { n } = await after.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number | string>().as('n'))
            .executeTakeFirstOrThrow();
          assert.equal(Number(n), 0, table);
        }
        const audit = await after.db
          .selectFrom('audit_events')
          .select('id')
          .where('at', '<', now - 400 * DAY)
          .execute();
        assert.deepEqual(audit, [], 'no audit event older than 400 days');
      } finally {
        await after.close();
      }
    } finally {
      await temp.cleanup();
    }
  });
});
