import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { type DatabaseHandle, SqlDeliveryStore, SqlMessageStore } from '../src/store/index.ts';
import {
  acceptedSend,
  migratedDatabase,
  storeOneMessage,
  TEST_ENGINE,
  waitFor,
} from './helpers.ts';

/**
 * On PostgreSQL a completion wrote `attempts` first, then `messages`; the lease sweep writes
 * `messages` first, then `attempts`. A late result written while the sweep released the same
 * message took the two locks in opposite orders, and one was aborted as a deadlock. Completions
 * now write `messages` first, and the sweep skips rows a completion has locked. A trigger on
 * `attempts` widens the window (the completion pauses at its attempt insert).
 */
describe('a lease sweep and a late result for the same message (PostgreSQL lock order)', {
  skip: TEST_ENGINE !== 'postgres' && 'row locks: PostgreSQL only',
}, () => {
  const database = migratedDatabase();
  let handle: DatabaseHandle;
  before(() => {
    handle = database.handle;
  });

  test('both commit; neither is chosen as a deadlock victim', async () => {
    const messages = new SqlMessageStore(handle);
    const delivery = new SqlDeliveryStore(handle);
    const now = Date.now();
    const id = await storeOneMessage(messages, now);
    await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 1000, now });
    await sql`create function pause_attempt_insert() returns trigger language plpgsql as $$
      begin perform pg_sleep(1.5); return null; end $$`.execute(handle.db);
    await sql`create trigger pause_attempt_insert after insert on attempts for each row
      when (new.error_class is distinct from 'worker_lost') execute function pause_attempt_insert()`.execute(
      handle.db,
    );

    const late = delivery
      .complete({
        messageId: id,
        leaseOwner: 'host-a/1/a',
        now: now + 1100,
        attempt: acceptedSend(1, now, { providerMessageId: 'pm-1' }),
        decision: { kind: 'sent' },
      })
      .then(
        () => 'ok',
        (e: Error) => e.message,
      );
    // The sweep begins while the completion is paused at its attempt insert, its locks held.
    await waitFor(
      async () => {
        const paused = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event = 'PgSleep'
            and query ilike '%insert into "attempts"%'`.execute(handle.db);
        return (paused.rows[0]?.n ?? 0) > 0;
      },
      'the late result to pause at its attempt insert',
      15_000,
      10,
    );
    const sweep = delivery
      .releaseExpiredLeases(now + 1001, { provider: 'sendgrid', proofWaitMs: 0 })
      .then(
        () => 'ok',
        (e: Error) => e.message,
      );
    assert.deepEqual({ late: await late, sweep: await sweep }, { late: 'ok', sweep: 'ok' });
  });
});
