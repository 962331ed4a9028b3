import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { newId } from '../src/domain/ids.ts';
import {
  chunkSize,
  pauseAfterChunk,
  RECOVERY_CHUNK,
  RECOVERY_CHUNK_MAX,
  RECOVERY_CHUNK_TARGET_MS,
  skipReason,
} from '../src/domain/operations/recovery.ts';
import {
  isUnsent,
  UNSENT_REASONS,
  unsentReason,
  unsentWindow,
} from '../src/domain/operations/unsent.ts';
import { MESSAGE_STATUSES, type MessageStatus } from '../src/domain/types.ts';
import {
  type DatabaseHandle,
  migrateToLatest,
  openDatabase,
  SqlMessageStore,
} from '../src/store/index.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

describe('recovery rules', () => {
  test('a message is acted on only in the statuses the single-message action allows', () => {
    for (const status of MESSAGE_STATUSES) {
      const retry = skipReason('retry', status);
      const cancel = skipReason('cancel', status);
      if (status === 'sent') assert.deepEqual([retry, cancel], ['already_sent', 'already_sent']);
      if (status === 'cancelled') assert.deepEqual([retry, cancel], ['cancelled', 'cancelled']);
    }
    assert.equal(skipReason('retry', 'queued'), 'not_failed');
    assert.equal(skipReason('cancel', 'failed'), 'not_cancellable');
    assert.equal(skipReason('retry', null), 'not_found');
  });

  test('a paced recovery keeps to its rate', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: null }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.option(
          fc.record({
            size: fc.integer({ min: 1, max: RECOVERY_CHUNK_MAX }),
            elapsedMs: fc.integer({ min: 0, max: 60_000 }),
          }),
          { nil: undefined },
        ),
        (rate, elapsed, previous) => {
          const size = chunkSize(rate, previous);
          assert.ok(size >= 1 && size <= (rate === null ? RECOVERY_CHUNK_MAX : RECOVERY_CHUNK));
          const pause = pauseAfterChunk(rate, size, elapsed);
          if (rate === null) assert.equal(pause, 0);
          // Chunk and pause together take at least size / rate seconds.
          else assert.ok(((elapsed + pause) * rate) / 1000 >= size - 1e-9);
        },
      ),
    );
  });

  test('an unpaced recovery sizes its chunks by the time the last one took', () => {
    assert.equal(chunkSize(null), RECOVERY_CHUNK, 'the first chunk');
    fc.assert(
      fc.property(
        fc.integer({ min: RECOVERY_CHUNK, max: RECOVERY_CHUNK_MAX }),
        fc.integer({ min: 0, max: 60_000 }),
        (last, elapsedMs) => {
          const next = chunkSize(null, { size: last, elapsedMs });
          assert.ok(Number.isInteger(next));
          assert.ok(next >= RECOVERY_CHUNK && next <= RECOVERY_CHUNK_MAX, `${next}`);
          // At most doubling or halving, and in the direction of the target time.
          assert.ok(next <= last * 2 && next >= Math.min(last, Math.round(last / 2)));
          if (elapsedMs < RECOVERY_CHUNK_TARGET_MS) assert.ok(next >= last);
          if (elapsedMs > RECOVERY_CHUNK_TARGET_MS) assert.ok(next <= last);
        },
      ),
    );
    // Fast chunks grow to the largest size and stay there; slow ones shrink to the first size.
    let size = RECOVERY_CHUNK;
    for (let i = 0; i < 10; i++) size = chunkSize(null, { size, elapsedMs: 10 });
    assert.equal(size, RECOVERY_CHUNK_MAX);
    for (let i = 0; i < 10; i++) size = chunkSize(null, { size, elapsedMs: 5_000 });
    assert.equal(size, RECOVERY_CHUNK);
    // A chunk that took the target time is kept at its size.
    assert.equal(chunkSize(null, { size: 4_000, elapsedMs: RECOVERY_CHUNK_TARGET_MS }), 4_000);
  });
});

/**
 * The unsent view's rules exist twice: as SQL (store/messages/conditions.ts) to select and count
 * in the database, and as plain functions (domain/operations/unsent.ts) to name each message's
 * reason. Random messages, stored for real: both must agree on every one.
 */
describe(`unsent view: the SQL and the domain rules agree (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  let handle: DatabaseHandle;
  let store: SqlMessageStore;
  before(async () => {
    handle = openDatabase(db.url);
    await migrateToLatest(handle.db);
    store = new SqlMessageStore(handle);
  });
  after(async () => {
    await handle.close();
    await db.cleanup();
  });

  const row = fc.record({
    status: fc.constantFrom(...MESSAGE_STATUSES),
    lastOutcome: fc.constantFrom(null, 'retryable', 'permanent', 'unknown', 'accepted'),
    lastProviderFault: fc.constantFrom(null, 'outage', 'rate_limited', 'account'),
    nextAttemptAt: fc.option(fc.integer({ min: -180, max: 180 }), { nil: null }),
    sentAt: fc.option(fc.integer({ min: -50 * 3600, max: 0 }), { nil: null }),
    confirmed: fc.boolean(),
  });

  test('membership and reason of random messages', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        async (rows, events) => {
          const now = Date.now();
          const window = unsentWindow(now, {
            unsentAfterMs: 60_000,
            unconfirmedAfterMs: events ? 1800_000 : null,
          });
          // A unit of its own per run, so runs do not see each other's rows.
          const unit = newId('unit');
          await handle.db
            .insertInto('units')
            .values({ id: unit, name: unit.toLowerCase(), created_at: now })
            .execute();
          const facts = rows.map((r) => ({
            id: newId('msg'),
            status: r.status as MessageStatus,
            lastOutcome: r.lastOutcome,
            lastProviderFault: r.lastOutcome === null ? null : r.lastProviderFault,
            nextAttemptAt: r.nextAttemptAt === null ? null : now + r.nextAttemptAt * 1000,
            sentAt: r.sentAt === null ? null : now + r.sentAt * 1000,
            confirmedAt: r.confirmed ? now : null,
          }));
          await handle.db
            .insertInto('messages')
            .values(
              facts.map((f) => ({
                id: f.id,
                api_key_id: null,
                unit_id: unit,
                status: f.status,
                from_email: 'shop@example.com',
                subject: 'x',
                content: '{}',
                send_at: null,
                created_at: now,
                updated_at: now,
                attempt_count: f.lastOutcome === null ? 0 : 1,
                attempts_before_retry: 0,
                next_attempt_at: f.nextAttemptAt,
                lease_owner: null,
                lease_expires_at: null,
                sent_at: f.sentAt,
                last_error: null,
                last_provider: f.lastOutcome === null ? null : 'test',
                last_error_class: null,
                last_outcome: f.lastOutcome,
                last_provider_fault: f.lastProviderFault,
                failed_at: null,
                confirmed_at: f.confirmedAt,
                priority: 1,
              })),
            )
            .execute();
          const ids = async (reason?: (typeof UNSENT_REASONS)[number]) =>
            (
              await store.list({
                unitId: unit,
                unsent: { ...(reason ? { reason } : {}), window },
                limit: 1000,
              })
            )
              .map((m) => m.id)
              .sort();
          const expected = facts.filter((f) => isUnsent(f, window));
          assert.deepEqual(await ids(), expected.map((f) => f.id).sort(), 'the whole view');
          assert.equal(
            await store.count({ unitId: unit, unsent: { window }, limit: 0 }),
            expected.length,
          );
          for (const reason of UNSENT_REASONS) {
            assert.deepEqual(
              await ids(reason),
              expected
                .filter((f) => unsentReason(f) === reason)
                .map((f) => f.id)
                .sort(),
              `reason ${reason}`,
            );
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});
