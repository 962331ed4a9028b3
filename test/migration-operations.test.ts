import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrateTo, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { queryDatabase, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * Migration 007 on a database that already holds mail: everything goes into the unit `default`,
 * and the new per-message columns are filled from what is recorded.
 */
describe(`migration 009-operations on existing data (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  after(() => db.cleanup());

  test('existing keys, messages, endpoints and suppressions go into the unit "default"', async () => {
    const handle = openDatabase(db.url);
    const now = Date.now();
    try {
      await migrateTo(handle.db, '006-app-webhooks');
      const message = (id: string, status: string, attempts: number) =>
        sql`insert into messages (id, api_key_id, status, from_email, subject, content, created_at,
            updated_at, attempt_count, attempts_before_retry, sent_at)
          values (${id}, null, ${status}, 'shop@example.com', 'Your booking', '{}', ${now},
            ${now + 5}, ${attempts}, 0, ${status === 'sent' ? now : null})`.execute(handle.db);
      await message('msg_01A', 'failed', 2);
      await message('msg_01B', 'sent', 1);
      await sql`insert into attempts (message_id, number, provider, started_at, duration_ms, outcome,
          error_class, provider_fault)
        values ('msg_01A', 1, 'sendgrid', ${now}, 5, 'retryable', 'http_503', 'outage'),
               ('msg_01A', 2, 'sendgrid', ${now}, 5, 'permanent', 'http_400', null),
               ('msg_01B', 1, 'sendgrid', ${now}, 5, 'accepted', null, null)`.execute(handle.db);
      await sql`insert into recipients (message_id, position, kind, email, email_normalized, status,
          updated_at)
        values ('msg_01A', 0, 'to', 'Guest@Example.JP', 'guest@example.jp', 'failed', ${now})`.execute(
        handle.db,
      );
      await sql`insert into delivery_events (event_key, provider, message_id, email_normalized,
          event, occurred_at, received_at, payload)
        values ('sendgrid:e1', 'sendgrid', 'msg_01B', 'x@example.com', 'bounce', ${now},
          ${now + 7}, '{}')`.execute(handle.db);
      await sql`insert into suppressions (email_normalized, email, reason, source, event_key,
          created_at)
        values ('x@example.com', 'x@example.com', 'bounce', 'event', 'sendgrid:e1', ${now}),
               ('y@example.com', 'y@example.com', 'manual', 'api', null, ${now})`.execute(
        handle.db,
      );
      await sql`insert into api_keys (id, name, key_prefix, key_hash, created_at)
        values ('key_01A', 'old', 'tgm_x', 'hash', ${now})`.execute(handle.db);
      await sql`insert into webhook_endpoints (id, url, event_types, secret, created_at)
        values ('whk_01A', 'https://app.example/hooks', '[]', 'secret-secret-secret', ${now})`.execute(
        handle.db,
      );

      // The migrations after 006, up to 012; later ones (each feature's own) may follow.
      assert.deepEqual((await migrateToLatest(handle.db)).slice(0, 6), [
        '007-webhook-endpoint-due',
        '008-unmatched-events',
        '009-operations',
        '010-subject-index',
        '011-alerts',
        '012-sendgrid-event-relay',
      ]);
    } finally {
      await handle.close();
    }

    const [unit] = await queryDatabase<{ id: string; name: string }>(
      db.url,
      'select id, name from units',
    );
    assert.equal(unit?.name, 'default');
    const unitId = unit?.id;
    const units = async (table: string) =>
      (await queryDatabase<{ unit_id: string }>(db.url, `select unit_id from ${table}`)).map(
        (r) => r.unit_id,
      );
    assert.deepEqual(await units('messages'), [unitId, unitId]);
    assert.deepEqual(await units('api_keys'), [unitId]);
    assert.deepEqual(await units('webhook_endpoints'), [unitId]);
    assert.deepEqual((await units('suppressions')).sort(), [unitId, unitId]);
    const [failed] = await queryDatabase(
      db.url,
      "select last_provider, last_error_class, last_outcome, last_provider_fault, failed_at from messages where id = 'msg_01A'",
    );
    assert.deepEqual(
      { ...failed, failed_at: Number(failed?.failed_at) },
      {
        last_provider: 'sendgrid',
        last_error_class: 'http_400',
        last_outcome: 'permanent',
        last_provider_fault: null,
        failed_at: now + 5, // when it was last updated: when it failed
      },
    );
    const [sent] = await queryDatabase<{ confirmed_at: number | null; last_outcome: string }>(
      db.url,
      "select confirmed_at, last_outcome from messages where id = 'msg_01B'",
    );
    assert.ok(sent?.confirmed_at !== null, 'a message with a delivery event is confirmed');
    assert.equal(sent?.last_outcome, 'accepted');
    const [recipient] = await queryDatabase<{ email_domain: string }>(
      db.url,
      'select email_domain from recipients',
    );
    assert.equal(recipient?.email_domain, 'example.jp');
  });
});
