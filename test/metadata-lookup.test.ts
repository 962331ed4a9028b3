import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { migrateTo, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { METADATA_VALUE_PREFIX, metadataEntryIs } from '../src/store/messages/metadata.ts';
import { message, startTestService, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * Metadata is searched through the look-up index `message_metadata_lookup`. A value may be as
 * long as SendGrid's custom_args allow (~10 kB), more than PostgreSQL takes in an index entry, so
 * there it holds the value's first METADATA_VALUE_PREFIX characters (017-metadata-lookup).
 */
describe(`metadata look-up (${TEST_ENGINE})`, () => {
  test('a message with a 9 kB metadata value is accepted and found by that value, and only by it', async () => {
    const svc = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    try {
      // Random, so that PostgreSQL cannot compress it under its index entry limit.
      const value = randomBytes(4_400).toString('hex');
      const accepted = await svc.request(
        'POST',
        '/v1/messages',
        message({ metadata: { booking: value, hotel: 'kyoto' } }),
      );
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      // The same first METADATA_VALUE_PREFIX characters, a different end.
      const twin = `${value.slice(0, -1)}${value.endsWith('0') ? '1' : '0'}`;
      const other = await svc.request(
        'POST',
        '/v1/messages',
        message({ metadata: { booking: twin } }),
      );
      assert.equal(other.status, 202, JSON.stringify(other.body));

      const find = async (v: string) => {
        const found = await svc.request(
          'GET',
          `/v1/messages?metadata=${encodeURIComponent(`booking=${v}`)}`,
        );
        assert.equal(found.status, 200, JSON.stringify(found.body));
        return found.body.data.map((m: { id: string }) => m.id);
      };
      assert.deepEqual(await find(value), [accepted.body.id]);
      assert.deepEqual(await find(twin), [other.body.id]);
      assert.deepEqual(await find(value.slice(0, METADATA_VALUE_PREFIX)), []);

      const shown = await svc.request('GET', `/v1/messages/${accepted.body.id}`);
      assert.deepEqual(shown.body.metadata, { booking: value, hotel: 'kyoto' });
    } finally {
      await svc.stop();
    }
  });

  test('a search by metadata reads the look-up through its index', async () => {
    const db = tempDatabase();
    const handle = openDatabase(db.url);
    try {
      await migrateToLatest(handle.db);
      const query = handle.db
        .selectFrom('message_metadata')
        .select('message_id')
        .where((eb) => metadataEntryIs(eb, 'booking', 'b-42'))
        .compile();
      const explain = TEST_ENGINE === 'sqlite' ? 'explain query plan' : 'explain';
      const plan = await handle.db.executeQuery(
        CompiledQuery.raw(`${explain} ${query.sql}`, [...query.parameters]),
      );
      const rows = JSON.stringify(plan.rows);
      if (TEST_ENGINE === 'sqlite')
        assert.match(
          rows,
          /SEARCH message_metadata USING COVERING INDEX message_metadata_lookup \(key=\? AND value=\?\)/,
        );
      else assert.match(rows, /message_metadata_lookup/);
    } finally {
      await handle.close();
      await db.cleanup();
    }
  });

  test('migration 017 keeps the entries of mail accepted before it searchable', async () => {
    const db = tempDatabase();
    const handle = openDatabase(db.url);
    const now = Date.now();
    try {
      await migrateTo(handle.db, '016-one-due-index');
      const content = JSON.stringify({
        from: { email: 'shop@example.com' },
        to: [{ email: 'guest@example.com' }],
        cc: [],
        bcc: [],
        subject: 'Your booking',
        text: 't',
        headers: {},
        categories: [],
        metadata: { booking: 'b-7', hotel: 'kyoto' },
        attachments: [],
      });
      for (const id of ['msg_01OLD1', 'msg_01OLD2']) {
        await sql`insert into messages (id, api_key_id, status, from_email, subject, content,
            created_at, updated_at, attempt_count, attempts_before_retry, next_attempt_at)
          values (${id}, null, 'queued', 'shop@example.com', 'Your booking', ${content}, ${now},
            ${now}, 0, 0, ${now})`.execute(handle.db);
        await sql`insert into message_metadata (message_id, key, value)
          values (${id}, 'booking', 'b-7'), (${id}, 'hotel', 'kyoto')`.execute(handle.db);
      }

      const applied = await migrateToLatest(handle.db);
      assert.ok(applied.includes('017-metadata-lookup'), applied.join(', '));

      const found = await handle.db
        .selectFrom('message_metadata')
        .select('message_id')
        .where((eb) => metadataEntryIs(eb, 'hotel', 'kyoto'))
        .orderBy('message_id')
        .execute();
      assert.deepEqual(
        found.map((r) => r.message_id),
        ['msg_01OLD1', 'msg_01OLD2'],
      );
    } finally {
      await handle.close();
      await db.cleanup();
    }
  });
});
