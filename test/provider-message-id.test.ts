import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrateTo, migrateToLatest, openDatabase } from '../src/store/index.ts';
import {
  createUnitWithKey,
  message,
  request,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { signIn } from './support/console.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';

/**
 * Support is handed a provider's id, not Tegami's: SendGrid's `X-Message-Id` (its Activity feed,
 * a bounce report), an event's `sg_message_id`, or the `X-Message-Id` an application logged when
 * `POST /v3/mail/send` answered it. `provider_message_id` (API, `tegami unsent`/`recover`, the
 * console's `id:`) finds the message by any of them, within the reader's unit.
 */
describe(`looking a message up by a provider's id (${TEST_ENGINE})`, () => {
  const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
  let setup: SignedEventsSetup;
  let sentId = '';
  let sendgridId = '';
  let forwardedId = '';
  let answeredXMessageId = '';
  let unitKey = '';

  const find = async (id: string, key = TEST_KEY) => {
    const r = await request(
      setup.tegami.url,
      'GET',
      `/v1/messages?provider_message_id=${encodeURIComponent(id)}`,
      undefined,
      {},
      key,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data.map((m: { id: string }) => m.id);
  };

  before(async () => {
    setup = await startWithSignedEvents({
      env: { TEGAMI_ADMIN_EMAIL: ADMIN.email, TEGAMI_ADMIN_PASSWORD: ADMIN.password },
    });
    const { tegami } = setup;
    const accepted = await tegami.request('POST', '/v1/messages', message());
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    sentId = accepted.body.id;
    const sent = await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/messages/${sentId}`);
      return r.body.status === 'sent' && r.body;
    }, 'the message sent');
    sendgridId = sent.attempts[0].provider_message_id;
    assert.match(sendgridId, /^\S{10,}$/, 'SendGrid answered an X-Message-Id');

    const v3 = await fetch(`${tegami.url}/v3/mail/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        personalizations: [{ to: [{ email: 'guest2@example.com' }] }],
        from: { email: 'bookings@hotel.example' },
        subject: 'Forwarded',
        content: [{ type: 'text/plain', value: 'hello' }],
      }),
    });
    assert.equal(v3.status, 202, await v3.text());
    answeredXMessageId = v3.headers.get('x-message-id') ?? '';
    assert.ok(answeredXMessageId);
    const v3Messages = await tegami.request('GET', '/v1/messages?recipient=guest2@example.com');
    forwardedId = v3Messages.body.data[0].id;

    unitKey = (await createUnitWithKey(tegami, 'restaurant')).key;
  });
  after(async () => {
    await setup.stop();
  });

  test("SendGrid's X-Message-Id, or an event's sg_message_id, finds the message", async () => {
    assert.deepEqual(await find(sendgridId), [sentId]);
    assert.deepEqual(await find(`${sendgridId}.filter0001.16648.5515E0B88.0`), [sentId]);
    assert.deepEqual(await find(` ${sendgridId} `), [sentId], 'pasted with spaces');
    assert.deepEqual(await find('noSuchId0123456789abcd'), []);
  });

  test('the X-Message-Id answered to /v3/mail/send finds the forwarded message', async () => {
    assert.deepEqual(await find(answeredXMessageId), [forwardedId]);
    const forwarded = await setup.tegami.request('GET', `/v1/messages/${forwardedId}`);
    assert.equal(forwarded.body.sendgrid.x_message_id, answeredXMessageId);
    // Once forwarded, SendGrid's own id (in its attempt) finds it too.
    const attempt = await waitFor(async () => {
      const r = await setup.tegami.request('GET', `/v1/messages/${forwardedId}`);
      return r.body.attempts[0]?.provider_message_id as string | undefined;
    }, 'the forwarded message sent');
    assert.notEqual(attempt, answeredXMessageId);
    assert.deepEqual(await find(attempt), [forwardedId]);
  });

  test("another unit's key finds nothing; combined with other filters it narrows", async () => {
    assert.deepEqual(await find(sendgridId, unitKey), []);
    const r = await setup.tegami.request(
      'GET',
      `/v1/messages?provider_message_id=${sendgridId}&status=failed`,
    );
    assert.deepEqual(r.body.data, []);
  });

  test('a blank or over-long id is refused with the field named', async () => {
    for (const bad of ['%20%20', 'x'.repeat(256)]) {
      const r = await setup.tegami.request('GET', `/v1/messages?provider_message_id=${bad}`);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(JSON.stringify(r.body), /provider_message_id/);
    }
  });

  test("the console's id: takes a provider's id as well as Tegami's", async () => {
    const admin = await signIn(setup.tegami.url, ADMIN.email, ADMIN.password);
    const byProvider = await admin.get(
      `/console/messages?q=${encodeURIComponent(`id:${sendgridId}`)}`,
    );
    assert.equal(byProvider.status, 200);
    assert.ok(byProvider.text.includes(`/console/messages/${sentId}`), 'the message is listed');
    assert.ok(!byProvider.text.includes(`/console/messages/${forwardedId}`));
    const byOwn = await admin.get(`/console/messages?q=${encodeURIComponent(`id:${sentId}`)}`);
    assert.ok(byOwn.text.includes(`/console/messages/${sentId}`));
  });
});

describe(`migration 024 (${TEST_ENGINE})`, () => {
  test('mail accepted through /v3 before it is found by its X-Message-Id', async () => {
    const db = tempDatabase();
    const handle = openDatabase(db.url);
    const now = Date.now();
    try {
      await migrateTo(handle.db, '021-sign-in-failures-by-client');
      const content = (sendgrid: object | undefined) =>
        JSON.stringify({
          from: { email: 'shop@example.com' },
          to: [{ email: 'guest@example.com' }],
          cc: [],
          bcc: [],
          subject: 'Your booking',
          text: 'xMessageId is only a word here',
          headers: {},
          categories: [],
          metadata: {},
          attachments: [],
          ...(sendgrid ? { sendgrid } : {}),
        });
      const rows = [
        ['msg_01OLDV3', content({ xMessageId: 'AbCdEfGhIjKlMnOpQrStUv' })],
        ['msg_01OLDV1', content(undefined)],
      ];
      for (const [id, text] of rows) {
        await sql`insert into messages (id, api_key_id, status, from_email, subject, content,
            created_at, updated_at, attempt_count, attempts_before_retry, next_attempt_at)
          values (${id}, null, 'queued', 'shop@example.com', 'Your booking', ${text}, ${now},
            ${now}, 0, 0, ${now})`.execute(handle.db);
      }
      const applied = await migrateToLatest(handle.db);
      assert.ok(applied.includes('024-x-message-id'), applied.join(', '));
      const found = await handle.db
        .selectFrom('messages')
        .select(['id', 'x_message_id'])
        .orderBy('id')
        .execute();
      assert.deepEqual(found, [
        { id: 'msg_01OLDV1', x_message_id: null },
        { id: 'msg_01OLDV3', x_message_id: 'AbCdEfGhIjKlMnOpQrStUv' },
      ]);
    } finally {
      await handle.close();
      await db.cleanup();
    }
  });

  // SQLite commits each statement of a migration by itself: a process stopped while 024 fills
  // its column leaves the column there and the migration unrecorded.
  test('a start after one stopped during the fill goes on', {
    skip: TEST_ENGINE !== 'sqlite',
  }, async () => {
    const db = tempDatabase();
    const handle = openDatabase(db.url);
    const now = Date.now();
    try {
      await migrateTo(handle.db, '023-webhook-secret-rotation');
      const content = JSON.stringify({ sendgrid: { xMessageId: 'StoppedDuringTheFill01' } });
      await sql`insert into messages (id, api_key_id, status, from_email, subject, content,
          created_at, updated_at, attempt_count, attempts_before_retry, next_attempt_at)
        values ('msg_01STOPPED', null, 'queued', 'shop@example.com', 'Your booking', ${content},
          ${now}, ${now}, 0, 0, ${now})`.execute(handle.db);
      await sql`alter table messages add column x_message_id text`.execute(handle.db);
      const applied = await migrateToLatest(handle.db);
      assert.ok(applied.includes('024-x-message-id'), applied.join(', '));
      const found = await handle.db.selectFrom('messages').select('x_message_id').execute();
      assert.deepEqual(found, [{ x_message_id: 'StoppedDuringTheFill01' }]);
    } finally {
      await handle.close();
      await db.cleanup();
    }
  });
});
