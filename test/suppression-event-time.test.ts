import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import {
  migrateTo,
  migrateToLatest,
  openDatabase,
  SqlDeliveryEventStore,
} from '../src/store/index.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * Migration 030 keeps when the event of each suppression entry occurred, so the earliest event
 * decides an entry whatever order events arrive in (store/events/suppress-addresses.ts).
 */
describe(`migration 030-suppression-event-time on existing entries (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  after(() => db.cleanup());

  test("entries of events get their event's time, or when they were recorded; entries by hand none", async () => {
    const handle = openDatabase(db.url);
    const recorded = 1_800_000_100_000;
    try {
      await migrateTo(handle.db, '029-audit-actor-name-index');
      await sql`insert into delivery_events (event_key, provider, message_id, email_normalized,
          event, occurred_at, received_at, provider_message_id, payload, delivery_status)
        values ('sendgrid:kept', 'sendgrid', null, 'bounced@example.com', 'spamreport',
          1800000000000, ${recorded}, null, '{}', null)`.execute(handle.db);
      await sql`insert into suppressions (email_normalized, email, reason, source, event_key,
          detail, created_at, unit_id)
        values ('bounced@example.com', 'bounced@example.com', 'spamreport', 'event',
                  'sendgrid:kept', null, ${recorded}, null),
               ('pruned@example.com', 'pruned@example.com', 'bounce', 'event',
                  'sendgrid:pruned', '550 gone', ${recorded}, null),
               ('manual@example.com', 'manual@example.com', 'manual', 'api', null, null,
                  ${recorded}, 'unit_x')`.execute(handle.db);
      assert.deepEqual(await migrateToLatest(handle.db), ['030-suppression-event-time']);

      const rows = await sql<{ email_normalized: string; event_occurred_at: unknown }>`
        select email_normalized, event_occurred_at from suppressions
        order by email_normalized`.execute(handle.db);
      assert.deepEqual(
        rows.rows.map((r) => [
          r.email_normalized,
          r.event_occurred_at === null ? null : Number(r.event_occurred_at),
        ]),
        [
          ['bounced@example.com', 1_800_000_000_000],
          ['manual@example.com', null],
          ['pruned@example.com', recorded],
        ],
      );

      // A bounce that occurred before the spam report, arriving now, takes its entry over; one
      // after the time the pruned entry was recorded does not.
      const events = new SqlDeliveryEventStore(handle, { suppressBlocks: false });
      await events.ingest(
        [
          ['sendgrid:earlier', 'bounced@example.com', 1_799_999_999_000],
          ['sendgrid:later', 'pruned@example.com', recorded + 1],
        ].map(([key, email, at]) => ({
          key: key as string,
          provider: 'sendgrid',
          event: 'bounce',
          email: email as string,
          occurredAt: at as number,
          messageId: null,
          providerMessageId: null,
          bounceType: 'bounce',
          raw: {},
        })),
        recorded + 10_000,
      );
      const after = await sql<{ email_normalized: string; reason: string; event_key: string }>`
        select email_normalized, reason, event_key from suppressions where source = 'event'
        order by email_normalized`.execute(handle.db);
      assert.deepEqual(after.rows, [
        {
          email_normalized: 'bounced@example.com',
          reason: 'bounce',
          event_key: 'sendgrid:earlier',
        },
        { email_normalized: 'pruned@example.com', reason: 'bounce', event_key: 'sendgrid:pruned' },
      ]);
    } finally {
      await handle.close();
    }
  });
});
