import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrateTo, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * Migration 024 copies the `X-Message-Id` of mail that came in through `/v3/mail/send` out of
 * the stored content. On PostgreSQL it reads the content as JSON, which refuses an escaped NUL
 * (`\u0000`) anywhere in it, so one such message stopped the upgrade.
 */
describe(`migration 024 (${TEST_ENGINE})`, () => {
  test('a message whose content holds an escaped NUL does not stop it', async () => {
    const content = (xMessageId: string, text: string) =>
      JSON.stringify({
        to: [{ email: 'guest@example.jp' }],
        text,
        sendgrid: { xMessageId },
      });
    const upgraded = await upgradedFrom023([
      ['msg_01JB8ZQ4W5X3C2V1N0M9K8J7H1', content('x-plain', 'Welcome')],
      ['msg_01JB8ZQ4W5X3C2V1N0M9K8J7H2', content('x-nul', 'a\u0000b')],
      ['msg_01JB8ZQ4W5X3C2V1N0M9K8J7H3', JSON.stringify({ text: 'through /v1' })],
    ]);
    assert.deepEqual(
      upgraded.map((r) => [r.id.slice(-2), r.x_message_id]),
      [
        ['H1', 'x-plain'],
        ['H2', 'x-nul'],
        ['H3', null],
      ],
    );
    // The content itself is kept as it was, NUL and all.
    const kept = upgraded.find((r) => r.id === 'msg_01JB8ZQ4W5X3C2V1N0M9K8J7H2');
    assert.equal(JSON.parse(kept?.content ?? '{}').text, 'a\u0000b');
  });

  test('content earlier releases stored with text its JSON functions refuse does not stop it', async () => {
    // JSON nested 1,500 levels, as `/v3` took in dynamic_template_data before its 32-level
    // limit: SQLite's JSON functions refuse it ("malformed JSON").
    let deep: unknown = 'leaf';
    for (let i = 0; i < 1_500; i++) deep = [deep];
    const upgraded = await upgradedFrom023([
      // `/v1` mail of a release before lone surrogates were refused: a text cut in the middle
      // of an emoji, and a metadata key named like the id (`\ud83d` stored as an escape,
      // which PostgreSQL's JSON refuses).
      [
        'msg_01JB8ZQ4W5X3C2V1N0M9K8J7J1',
        JSON.stringify({
          from: { email: 'hotel@example.jp' },
          to: [{ email: 'guest@example.jp' }],
          text: 'See you soon \ud83d',
          metadata: { xMessageId: 'from-the-application' },
        }),
      ],
      [
        'msg_01JB8ZQ4W5X3C2V1N0M9K8J7J2',
        JSON.stringify({
          from: { email: 'hotel@example.jp' },
          to: [{ email: 'guest@example.jp' }],
          metadata: { ref: 'sg' },
          attachments: [],
          sendgrid: {
            xMessageId: 'x-deep',
            request: { personalizations: [{ dynamic_template_data: { deep } }] },
          },
        }),
      ],
    ]);
    assert.deepEqual(
      upgraded.map((r) => [r.id.slice(-2), r.x_message_id]),
      [
        ['J1', null],
        ['J2', 'x-deep'],
      ],
    );
  });
});

/**
 * Stores sent messages with these contents in a database at 023, the release before 024, runs
 * every migration after it, and answers each message's row (by id) as the upgrade left it.
 */
async function upgradedFrom023(
  contents: [id: string, content: string][],
): Promise<{ id: string; x_message_id: string | null; content: string }[]> {
  const db = tempDatabase();
  const handle = openDatabase(db.url);
  try {
    await migrateTo(handle.db, '023-webhook-secret-rotation');
    const now = Date.now();
    const unit = await handle.db
      .selectFrom('units')
      .select('id')
      .where('name', '=', 'default')
      .executeTakeFirstOrThrow();
    await handle.db
      .insertInto('messages')
      .values(
        contents.map(([id, content]) => ({
          id,
          status: 'sent',
          from_email: 'hotel@example.jp',
          subject: 'Your booking',
          content,
          created_at: now,
          updated_at: now,
          unit_id: unit.id,
          priority: 1,
          attempt_count: 1,
          attempts_before_retry: 0,
        })),
      )
      .execute();
    await migrateToLatest(handle.db);
    const found = await sql<{ id: string; x_message_id: string | null; content: string }>`
      select id, x_message_id, content from messages order by id`.execute(handle.db);
    return found.rows;
  } finally {
    await handle.close();
    await db.cleanup();
  }
}
