import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  generateSigningKey,
  loadSigningKey,
  signPayload,
} from '../src/simulator/event-webhook/signing.ts';
import { migrateTo, openDatabase, SqlDeliveryEventStore } from '../src/store/index.ts';
import {
  acceptedAttempt,
  message,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
} from './helpers.ts';
import { signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const ADMIN_ENV = { TEGAMI_ADMIN_EMAIL: ADMIN.email, TEGAMI_ADMIN_PASSWORD: ADMIN.password };

/** The overview's delivery outcomes of the last hour, as the console serves them. */
async function outcomes(tegami: TestService): Promise<Record<string, number>> {
  const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  const r = await admin.get('/console/overview.json');
  assert.equal(r.status, 200);
  return (JSON.parse(r.text) as { events: Record<string, number> }).events;
}

async function storedStatuses(tegami: TestService): Promise<Record<string, string | null>> {
  const rows = await queryDatabase<{ event_key: string; delivery_status: string | null }>(
    tegami.databaseUrl,
    'select event_key, delivery_status from delivery_events order by event_key',
  );
  return Object.fromEntries(rows.map((r) => [r.event_key, r.delivery_status]));
}

/**
 * A delivery event's row holds the delivery status it sets for its recipient (`statusOfEvent`,
 * decided as it is stored): the console's overview counts a block (SendGrid's `bounce` of type
 * `blocked`) from it, not from how the stored payload happens to be spelled.
 */
describe(`the delivery status stored with each event (${TEST_ENGINE})`, () => {
  const keys = generateSigningKey();
  const signingKey = loadSigningKey(keys.privateKeyBase64);
  let tegami: TestService;

  before(async () => {
    tegami = await startTestService(
      {
        ...ADMIN_ENV,
        TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKeyBase64,
        TEGAMI_TEST_NO_WORKER: '1',
      },
      // No maintenance round matches late events behind the test's back.
      { housekeeping: false },
    );
  });
  after(async () => {
    await tegami.stop();
  });

  /** Posts `body` as SendGrid does, signed, exactly as written. */
  async function post(body: string): Promise<{ stored: number; matched: number }> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const r = await fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-timestamp': timestamp,
        'x-twilio-email-event-webhook-signature': signPayload(
          signingKey,
          timestamp,
          Buffer.from(body),
        ),
      },
      body,
    });
    const answer = await r.text();
    assert.equal(r.status, 200, answer);
    return JSON.parse(answer);
  }

  test('a block counts as blocked and a bounce as bounced, however the payload reads', async () => {
    const emails = ['spaced@example.jp', 'plain@example.jp', 'nested@example.jp'];
    const sent = await tegami.request(
      'POST',
      '/v1/messages',
      message({ to: emails.map((email) => ({ email })) }),
    );
    assert.equal(sent.status, 202);
    const id = sent.body.id as string;
    const now = Math.floor(Date.now() / 1000);
    // Written by hand: a block with a space after each colon; a bounce; a bounce whose payload
    // has `"type":"blocked"` in an object of its own, which the old `like` on the payload took
    // for a block.
    const body = `[
      {"email": "spaced@example.jp", "event": "bounce", "type": "blocked", "reason": "554 5.7.1 blocked", "sg_event_id": "status-spaced", "tegami_message_id": "${id}", "timestamp": ${now}},
      {"email":"plain@example.jp","event":"bounce","type":"bounce","reason":"550 5.1.1 no such user","sg_event_id":"status-plain","tegami_message_id":"${id}","timestamp":${now}},
      {"email":"nested@example.jp","event":"bounce","type":"bounce","details":{"type":"blocked"},"sg_event_id":"status-nested","tegami_message_id":"${id}","timestamp":${now}},
      {"email":"plain@example.jp","event":"open","sg_event_id":"status-open","tegami_message_id":"${id}","timestamp":${now}}
    ]`;
    const answer = await post(body);
    assert.deepEqual([answer.stored, answer.matched], [4, 4]);

    assert.deepEqual(await storedStatuses(tegami), {
      'sendgrid:status-nested': 'bounced',
      'sendgrid:status-open': null,
      'sendgrid:status-plain': 'bounced',
      'sendgrid:status-spaced': 'blocked',
    });
    const events = await outcomes(tegami);
    assert.equal(events.blocked, 1);
    assert.equal(events.bounced, 2);
    // The recipients' statuses come from the same rule.
    const m = await tegami.request('GET', `/v1/messages/${id}`);
    assert.deepEqual(
      Object.fromEntries(
        (m.body.recipients as { email: string; delivery_status: string }[]).map((r) => [
          r.email,
          r.delivery_status,
        ]),
      ),
      {
        'spaced@example.jp': 'blocked',
        'plain@example.jp': 'bounced',
        'nested@example.jp': 'bounced',
      },
    );
  });

  test('late matching folds the stored status, and gives one to an event stored without it', async () => {
    const db = tegami.service.database.db;
    const sent = await tegami.request(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'early@example.jp' }, { email: 'earlier@example.jp' }] }),
    );
    assert.equal(sent.status, 202);
    const id = sent.body.id as string;
    const earlier = await outcomes(tegami);
    // The block arrives before the attempt that names SendGrid's message id is recorded.
    const now = Math.floor(Date.now() / 1000);
    const early = await post(
      JSON.stringify([
        {
          email: 'early@example.jp',
          event: 'bounce',
          type: 'blocked',
          sg_event_id: 'status-early',
          sg_message_id: 'STATUSLATE.filter-1',
          timestamp: now,
        },
      ]),
    );
    assert.deepEqual([early.stored, early.matched], [1, 0]);
    // One stored by a process of an earlier release, without the column.
    await db
      .insertInto('delivery_events')
      .values({
        event_key: 'sendgrid:status-earlier',
        provider: 'sendgrid',
        message_id: null,
        email_normalized: 'earlier@example.jp',
        event: 'bounce',
        occurred_at: now * 1000,
        received_at: Date.now(),
        provider_message_id: 'STATUSLATE',
        payload: JSON.stringify({ email: 'earlier@example.jp', event: 'bounce', type: 'blocked' }),
      })
      .execute();
    let counted = await outcomes(tegami);
    assert.equal(counted.blocked, (earlier.blocked ?? 0) + 1, 'the early block counts at once');
    assert.equal(
      counted.bounced,
      (earlier.bounced ?? 0) + 1,
      "an earlier release's block counts as bounced (docs/deploy.md)",
    );

    await db.insertInto('attempts').values(acceptedAttempt(id, 'STATUSLATE')).execute();
    assert.equal(await new SqlDeliveryEventStore(tegami.service.database).matchLater(100), 2);
    const m = await tegami.request('GET', `/v1/messages/${id}`);
    assert.deepEqual(
      (m.body.recipients as { delivery_status: string }[]).map((r) => r.delivery_status),
      ['blocked', 'blocked'],
    );
    const stored = await storedStatuses(tegami);
    assert.equal(stored['sendgrid:status-early'], 'blocked');
    assert.equal(stored['sendgrid:status-earlier'], 'blocked', 'given its status as it matched');
    counted = await outcomes(tegami);
    assert.equal(counted.blocked, (earlier.blocked ?? 0) + 2);
    assert.equal(counted.bounced, earlier.bounced ?? 0);
  });
});

describe(`migration 027 (${TEST_ENGINE})`, () => {
  test('bounces stored before it get their status from the stored payload', async () => {
    const db = tempDatabase();
    const handle = openDatabase(db.url);
    let tegami: TestService | undefined;
    try {
      await migrateTo(handle.db, '026-webhook-delivery-message');
      const now = Date.now();
      const stored = (key: string, event: string, payload: string) => ({
        event_key: `sendgrid:${key}`,
        provider: 'sendgrid',
        message_id: null,
        email_normalized: `${key}@example.jp`,
        event,
        occurred_at: now,
        received_at: now,
        provider_message_id: randomUUID(),
        payload,
      });
      const deep = (levels: number) => {
        let value: unknown = 'leaf';
        for (let i = 0; i < levels; i++) value = { value };
        return value;
      };
      const bounce = (fields: Record<string, unknown>) =>
        JSON.stringify({ event: 'bounce', email: 'x@example.jp', ...fields });
      await handle.db
        .insertInto('delivery_events')
        .values([
          stored('compact', 'bounce', bounce({ type: 'blocked' })),
          // Two not as JSON.stringify writes by default (a space after each colon, indented):
          // the `like` on the payload missed these blocks.
          stored(
            'spaced',
            'bounce',
            '{"event": "bounce", "email": "x@example.jp", "type": "blocked"}',
          ),
          stored(
            'indented',
            'bounce',
            JSON.stringify({ event: 'bounce', email: 'x@example.jp', type: 'blocked' }, null, 2),
          ),
          stored('plain', 'bounce', bounce({ type: 'bounce' })),
          stored('untyped', 'bounce', bounce({})),
          // A bounce with a block's words further in: the `like` took it for a block.
          stored('nested', 'bounce', bounce({ type: 'bounce', details: { type: 'blocked' } })),
          // An escaped NUL anywhere, which PostgreSQL's JSON functions refuse.
          stored('nul', 'bounce', bounce({ type: 'blocked', reason: 'a\u0000b' })),
          stored('nul-type', 'bounce', bounce({ type: 'blo\u0000cked' })),
          // Half of a surrogate pair (a reason cut in the middle of an emoji), escaped as
          // JSON.stringify writes it, which PostgreSQL's JSON refuses too.
          stored('high-half', 'bounce', bounce({ type: 'blocked', reason: '550 full \ud83d' })),
          stored('low-half', 'bounce', bounce({ type: 'bounce', reason: '\ude00 550' })),
          // Nested 1,500 levels, as an event could be before the 32-level limit: SQLite's JSON
          // refuses it ("malformed JSON").
          stored('deep', 'bounce', bounce({ type: 'blocked', details: deep(1_500) })),
          stored('delivered', 'delivered', JSON.stringify({ event: 'delivered' })),
          stored('open', 'open', JSON.stringify({ event: 'open' })),
        ])
        .execute();
      await handle.close();

      tegami = await startTestService(
        { ...ADMIN_ENV, TEGAMI_DATABASE_URL: db.url, TEGAMI_TEST_NO_WORKER: '1' },
        { housekeeping: false },
      );
      assert.deepEqual(await storedStatuses(tegami), {
        'sendgrid:compact': 'blocked',
        // SQLite cannot read it: it keeps no status, as an earlier release's process stores it.
        'sendgrid:deep': TEST_ENGINE === 'sqlite' ? null : 'blocked',
        'sendgrid:delivered': null,
        'sendgrid:high-half': 'blocked',
        'sendgrid:indented': 'blocked',
        'sendgrid:low-half': 'bounced',
        'sendgrid:nested': 'bounced',
        'sendgrid:nul': 'blocked',
        'sendgrid:nul-type': 'bounced',
        'sendgrid:open': null,
        'sendgrid:plain': 'bounced',
        'sendgrid:spaced': 'blocked',
        'sendgrid:untyped': 'bounced',
      });
      const events = await outcomes(tegami);
      assert.equal(events.blocked, TEST_ENGINE === 'sqlite' ? 5 : 6);
      assert.equal(events.bounced, TEST_ENGINE === 'sqlite' ? 6 : 5);
      assert.equal(events.delivered, 1, 'an earlier event other than a bounce counts by its name');
    } finally {
      await tegami?.stop();
      await db.cleanup();
    }
  });
});
