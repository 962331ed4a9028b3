import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { migrateTo, openDatabase } from '../src/store/index.ts';
import { migrations } from '../src/store/migrations/index.ts';
import { queryDatabase, runTegami, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * `tegami migrate` over a database that holds, all at once, the awkward data that earlier
 * releases let in: each migration that reads stored data reads it without stopping the upgrade
 * and fills what it fills from it. What each row stands for is said where it is written.
 */
const names = Object.keys(migrations);

/** `value` inside `levels` arrays: JSON nested that deep, as nothing limited it at first. */
function nested(levels: number, value: unknown): unknown {
  let inner = value;
  for (let i = 0; i < levels; i++) inner = [inner];
  return inner;
}

describe(`tegami migrate over what earlier releases stored (${TEST_ENGINE})`, () => {
  test('every migration from 004 on, over every kind of awkward data at once', async () => {
    const db = tempDatabase();
    const now = Date.now();
    // An X-Message-Id from an odd answer (a proxy in front of SendGrid, say), kept whole by the
    // first releases with the SendGrid provider: random, so that PostgreSQL cannot compress its
    // index entry under the ~2.7 kB limit.
    const longId = randomBytes(3_000).toString('base64');
    const handle = openDatabase(db.url);
    // Rows as the earlier schema had them, not as today's types describe them.
    // biome-ignore lint/suspicious/noExplicitAny: see above
    const earlier = handle.db as unknown as Kysely<any>;
    try {
      await migrateTo(handle.db, '003-cluster');
      const message = (id: string, content: Record<string, unknown>) => ({
        id,
        api_key_id: null,
        status: 'sent',
        from_email: 'hotel@example.jp',
        subject: 'Your booking',
        content: JSON.stringify(content),
        created_at: now,
        updated_at: now,
        attempt_count: 1,
        attempts_before_retry: 0,
        sent_at: now,
      });
      const base = { from: { email: 'hotel@example.jp' }, to: [{ email: 'Guest@Example.JP' }] };
      await earlier
        .insertInto('messages')
        .values([
          // `/v1`, before lone surrogates were refused: a text cut in the middle of an emoji,
          // and the application's own id in metadata under the name `/v3` mail keeps its id by.
          message('msg_01V1', {
            ...base,
            text: 'See you soon \ud83d',
            metadata: { xMessageId: 'from-the-application' },
          }),
          // `/v3` before its 32-level limit: template data nested 1,500 levels.
          message('msg_01V3DEEP', {
            ...base,
            metadata: {},
            attachments: [],
            sendgrid: {
              xMessageId: 'x-deep',
              request: { personalizations: [{ dynamic_template_data: nested(1_500, 'x') }] },
            },
          }),
          // `/v3` forwards what it does not store as text as it came, NUL included.
          message('msg_01V3NUL', {
            ...base,
            text: 'a\u0000b',
            sendgrid: { xMessageId: 'x-nul', request: {} },
          }),
        ])
        .execute();
      await earlier
        .insertInto('recipients')
        .values({
          message_id: 'msg_01V1',
          position: 0,
          kind: 'to',
          email: 'Guest@Example.JP',
          email_normalized: 'guest@example.jp',
          name: null,
          status: 'sent',
          updated_at: now,
        })
        .execute();
      await earlier
        .insertInto('message_metadata')
        .values({ message_id: 'msg_01V1', key: 'xMessageId', value: 'from-the-application' })
        .execute();
      const attempt = (messageId: string, providerMessageId: string) => ({
        message_id: messageId,
        number: 1,
        provider: 'sendgrid',
        started_at: now,
        duration_ms: 80,
        outcome: 'accepted',
        http_status: 202,
        provider_message_id: providerMessageId,
      });
      await earlier
        .insertInto('attempts')
        .values([attempt('msg_01V1', longId), attempt('msg_01V3DEEP', 'sg-22-characters-id-1')])
        .execute();

      // 004 to 008 over it, as the releases of that time applied them; then the data of their
      // tables.
      await migrateTo(handle.db, '008-unmatched-events');
      const event = (key: string, fields: Record<string, unknown>) => ({
        event_key: `sendgrid:${key}`,
        provider: 'sendgrid',
        message_id: 'msg_01V1',
        email_normalized: 'guest@example.jp',
        event: 'bounce',
        occurred_at: now,
        received_at: now + 1_000,
        provider_message_id: null,
        payload: JSON.stringify({ event: 'bounce', email: 'guest@example.jp', ...fields }),
      });
      await earlier
        .insertInto('delivery_events')
        .values([
          event('plain', { type: 'bounce', reason: '550 5.1.1 no such user' }),
          // Any field of an event but its ids may hold these; all are blocks.
          event('half', { type: 'blocked', reason: '554 blocked \udc00' }),
          event('nul', { type: 'blocked', reason: 'a\u0000b' }),
          event('deep', { type: 'blocked', details: nested(1_500, 'x') }),
        ])
        .execute();
      await earlier
        .insertInto('suppressions')
        .values([
          {
            email_normalized: 'guest@example.jp',
            email: 'guest@example.jp',
            reason: 'bounce',
            source: 'event',
            event_key: 'sendgrid:plain',
            detail: '550 5.1.1 no such user',
            created_at: now,
          },
          {
            email_normalized: 'former@example.jp',
            email: 'Former@Example.JP',
            reason: 'manual',
            source: 'api',
            event_key: null,
            detail: null,
            created_at: now,
          },
        ])
        .execute();
      await earlier
        .insertInto('webhook_endpoints')
        .values({
          id: 'whe_01A',
          url: 'https://app.example.jp/hooks',
          event_types: '["message.sent"]',
          secret: 'whsec_0123456789abcdef0123456789abcdef',
          created_at: now,
          disabled_at: null,
        })
        .execute();
      await earlier
        .insertInto('webhook_deliveries')
        .values({
          id: 'whd_01A',
          endpoint_id: 'whe_01A',
          event_type: 'message.sent',
          payload: JSON.stringify({
            id: 'whd_01A',
            type: 'message.sent',
            created_at: new Date(now).toISOString(),
            data: {
              message_id: 'msg_01V1',
              status: 'sent',
              metadata: { xMessageId: 'from-the-application', room: 'ラーメン 🍜' },
            },
          }),
          status: 'failed',
          attempts: 3,
          next_attempt_at: null,
          last_status: 500,
          last_error: 'HTTP 500',
          created_at: now,
          retry_from: now,
          delivered_at: null,
        })
        .execute();
    } finally {
      await handle.close();
    }

    const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.output);
    assert.match(migrated.output, /^Applied: 009-operations, 010-subject-index, /);
    assert.ok(migrated.output.includes(names.at(-1) as string), migrated.output);

    const rows = <Row>(query: string) => queryDatabase<Row>(db.url, query);
    // 004: the id too long for an index entry is not kept; the others are.
    assert.deepEqual(
      (
        await rows<{ message_id: string; provider_message_id: string | null }>(
          'select message_id, provider_message_id from attempts order by message_id',
        )
      ).map((r) => [r.message_id, r.provider_message_id]),
      [
        ['msg_01V1', null],
        ['msg_01V3DEEP', 'sg-22-characters-id-1'],
      ],
    );
    // 009: each recipient's domain; the confirmation time from the first event; the unit of a
    // suppression from the message its event was about, or the default unit for one by hand.
    assert.deepEqual(
      (await rows<{ email_domain: string }>('select email_domain from recipients')).map(
        (r) => r.email_domain,
      ),
      ['example.jp'],
    );
    const [defaultUnit] = await rows<{ id: string }>("select id from units where name = 'default'");
    assert.deepEqual(
      (
        await rows<{ email_normalized: string; unit_id: string }>(
          'select email_normalized, unit_id from suppressions order by email_normalized',
        )
      ).map((r) => [r.email_normalized, r.unit_id]),
      [
        ['former@example.jp', defaultUnit?.id],
        ['guest@example.jp', defaultUnit?.id],
      ],
    );
    // 024: the id answered to `/v3` mail, none for `/v1` mail.
    const found = await rows<{ id: string; x_message_id: string | null; confirmed_at: unknown }>(
      'select id, x_message_id, confirmed_at from messages order by id',
    );
    assert.deepEqual(
      found.map((r) => [
        r.id,
        r.x_message_id,
        r.confirmed_at === null ? null : Number(r.confirmed_at),
      ]),
      [
        ['msg_01V1', null, now + 1_000],
        ['msg_01V3DEEP', 'x-deep', null],
        ['msg_01V3NUL', 'x-nul', null],
      ],
    );
    // 026: the message a status webhook is about.
    assert.deepEqual(
      (await rows<{ message_id: string }>('select message_id from webhook_deliveries')).map(
        (r) => r.message_id,
      ),
      ['msg_01V1'],
    );
    // 027: the status each bounce set. SQLite's JSON cannot read the one nested 1,500 levels:
    // it keeps none, as one an earlier release's process stores.
    const statuses = await rows<{ event_key: string; delivery_status: string | null }>(
      'select event_key, delivery_status from delivery_events order by event_key',
    );
    assert.deepEqual(Object.fromEntries(statuses.map((r) => [r.event_key, r.delivery_status])), {
      'sendgrid:deep': TEST_ENGINE === 'sqlite' ? null : 'blocked',
      'sendgrid:half': 'blocked',
      'sendgrid:nul': 'blocked',
      'sendgrid:plain': 'bounced',
    });

    // The stored data itself is as it was.
    const [kept] = await rows<{ content: string }>(
      "select content from messages where id = 'msg_01V1'",
    );
    assert.equal(JSON.parse(kept?.content ?? '{}').text, 'See you soon \ud83d');
    const again = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.match(again.output, /^Database is up to date\./);
    await db.cleanup();
  });
});
