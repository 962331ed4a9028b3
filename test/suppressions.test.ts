import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  postUnsignedEvents,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { signIn, submitMessage } from './support/console.ts';

const ADMIN = { email: 'ops@example.jp', password: 'a-long-admin-password' };

describe(`suppression list (${TEST_ENGINE})`, () => {
  let tegami: TestService;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
  });
  after(async () => {
    await tegami.stop();
  });

  const postEvents = (events: Record<string, unknown>[]) => postUnsignedEvents(tegami.url, events);

  async function finished(id: string) {
    return waitFor(async () => {
      const got = await tegami.request('GET', `/v1/messages/${id}`);
      return ['sent', 'failed'].includes(got.body.status) ? got.body : null;
    }, `message ${id} to finish`);
  }

  async function outbox(id: string) {
    const got = await tegami.request('GET', `/v1/sandbox/messages?message_id=${id}`);
    assert.equal(got.status, 200);
    return got.body.data as { envelope_to: string[] }[];
  }

  async function lookUp(email: string) {
    const got = await tegami.request('GET', `/v1/suppressions?email=${encodeURIComponent(email)}`);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    return got.body.data as Record<string, unknown>[];
  }

  test('a hard bounce suppresses the address; the next message to it is not sent', async () => {
    const first = await submitMessage(tegami, { to: [{ email: 'Bounced@Example.com' }] });
    assert.equal((await finished(first)).status, 'sent');
    await postEvents([
      {
        event: 'bounce',
        type: 'bounce',
        email: 'Bounced@Example.com',
        reason: '550 5.1.1 The email account does not exist',
        tegami_message_id: first,
      },
    ]);
    const [entry] = await lookUp('bounced@example.com');
    assert.deepEqual(
      { ...entry, created_at: typeof entry?.created_at },
      {
        email: 'Bounced@Example.com',
        reason: 'bounce',
        source: 'event',
        detail: '550 5.1.1 The email account does not exist',
        event_key: entry?.event_key,
        message_id: first,
        created_at: 'string',
        unit: 'default',
      },
    );
    // The source event is the bounce on the message's timeline.
    assert.match(String(entry?.event_key), /^sendgrid:/);
    const events = await tegami.request('GET', `/v1/messages/${first}/events`);
    assert.ok(
      events.body.data.some(
        (e: { event: string; email: string }) =>
          e.event === 'bounce' && e.email === 'bounced@example.com',
      ),
      JSON.stringify(events.body),
    );
    // Adding the address by hand shows the unit's entry it already has, with its source.
    const again = await tegami.request('POST', '/v1/suppressions', {
      email: 'bounced@example.com',
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.message_id, first);
    const manual = await tegami.request('POST', '/v1/suppressions', {
      email: 'by-hand@example.com',
    });
    assert.equal(manual.status, 201, JSON.stringify(manual.body));
    assert.deepEqual([manual.body.event_key, manual.body.message_id], [null, null]);
    // The console's suppressions page links the message the bounce was about.
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const page = await admin.get('/console/suppressions?email=bounced%40example.com');
    assert.equal(page.status, 200);
    assert.ok(
      page.text.includes(`<a href="/console/messages/${first}">its message</a>`),
      page.text,
    );

    const second = await submitMessage(tegami, { to: [{ email: 'bounced@example.com' }] });
    const record = await finished(second);
    assert.equal(record.status, 'failed');
    assert.equal(record.last_error, 'all recipients are suppressed: bounced@example.com (bounce)');
    assert.equal(record.attempt_count, 0, 'the provider was not called');
    assert.deepEqual(record.attempts, []);
    assert.equal(record.recipients[0].status, 'suppressed');
    assert.equal(record.recipients[0].suppressed_reason, 'bounce');
    assert.deepEqual(await outbox(second), []);
  });

  test("a suppression keeps the first 1,000 characters of a bounce's reason; the event keeps it all", async () => {
    const id = await submitMessage(tegami, { to: [{ email: 'long-reason@example.com' }] });
    await finished(id);
    // 998 ASCII characters, then emoji: the cut falls between the halves of one.
    const reason = `550 ${'x'.repeat(994)}${'🙂'.repeat(200_000)}`;
    await postEvents([
      {
        event: 'bounce',
        type: 'bounce',
        email: 'long-reason@example.com',
        reason,
        tegami_message_id: id,
      },
    ]);
    const [entry] = await lookUp('long-reason@example.com');
    const detail = String(entry?.detail);
    assert.equal(detail, `550 ${'x'.repeat(994)}…`, 'no lone half of a surrogate pair');
    const record = (await tegami.request('GET', `/v1/messages/${id}`)).body;
    const bounce = record.recipients[0].events.find((e: { event: string }) => e.event === 'bounce');
    assert.equal(bounce?.payload?.reason?.length, reason.length);
  });

  test('a message to a suppressed address and another is sent to the other only', async () => {
    await postEvents([{ event: 'bounce', type: 'bounce', email: 'gone@example.com' }]);
    const id = await submitMessage(tegami, {
      to: [{ email: 'gone@example.com' }],
      cc: [{ email: 'friend@example.com' }],
      bcc: [{ email: 'audit@example.com' }],
    });
    const record = await finished(id);
    assert.equal(record.status, 'sent');
    assert.equal(record.last_error, null);
    assert.deepEqual(
      record.recipients.map((r: Record<string, unknown>) => [
        r.email,
        r.status,
        r.suppressed_reason,
      ]),
      [
        ['gone@example.com', 'suppressed', 'bounce'],
        ['friend@example.com', 'sent', null],
        ['audit@example.com', 'sent', null],
      ],
    );
    const [sent] = await outbox(id);
    assert.deepEqual(sent?.envelope_to.sort(), ['audit@example.com', 'friend@example.com']);
  });

  test('cc recipients stand in for suppressed to; bcc alone is not sent', async () => {
    await postEvents([{ event: 'unsubscribe', email: 'left@example.com' }]);
    const ccOnly = await submitMessage(tegami, {
      to: [{ email: 'left@example.com' }],
      cc: [{ email: 'cc@example.com' }],
    });
    assert.equal((await finished(ccOnly)).status, 'sent');
    assert.deepEqual((await outbox(ccOnly))[0]?.envelope_to, ['cc@example.com']);

    const bccOnly = await submitMessage(tegami, {
      to: [{ email: 'left@example.com' }],
      bcc: [{ email: 'hidden@example.com' }],
    });
    const record = await finished(bccOnly);
    assert.equal(record.status, 'failed');
    assert.match(record.last_error, /^every to and cc recipient is suppressed: left@example\.com/);
    assert.deepEqual(
      record.recipients.map((r: Record<string, unknown>) => r.status),
      ['suppressed', 'failed'],
    );
    assert.deepEqual(await outbox(bccOnly), []);
  });

  test('a block does not suppress by default; spam reports and unsubscribes do', async () => {
    await postEvents([
      { event: 'bounce', type: 'blocked', email: 'blocked@example.com', reason: 'IP blocked' },
      { event: 'spamreport', email: 'spam@example.com' },
      { event: 'unsubscribe', email: 'unsub@example.com' },
      { event: 'group_unsubscribe', email: 'group@example.com', asm_group_id: 7 },
      { event: 'delivered', email: 'fine@example.com' },
      { event: 'dropped', email: 'dropped@example.com', reason: 'Invalid' },
    ]);
    assert.deepEqual(await lookUp('blocked@example.com'), []);
    assert.deepEqual(await lookUp('fine@example.com'), []);
    assert.deepEqual(await lookUp('dropped@example.com'), []);
    assert.equal((await lookUp('spam@example.com'))[0]?.reason, 'spamreport');
    assert.equal((await lookUp('unsub@example.com'))[0]?.reason, 'unsubscribe');
    assert.equal((await lookUp('group@example.com'))[0]?.reason, 'unsubscribe');

    // The earliest event decides: a bounce that occurred later does not change the entry.
    await postEvents([
      { event: 'bounce', email: 'spam@example.com', timestamp: Math.floor(Date.now() / 1000) + 60 },
    ]);
    assert.equal((await lookUp('spam@example.com'))[0]?.reason, 'spamreport');

    const blocked = await submitMessage(tegami, { to: [{ email: 'blocked@example.com' }] });
    assert.equal((await finished(blocked)).status, 'sent');
    const spam = await submitMessage(tegami, { to: [{ email: 'spam@example.com' }] });
    const record = await finished(spam);
    assert.equal(record.status, 'failed');
    assert.match(record.last_error, /spam@example\.com \(spamreport\)/);
  });

  test('the earliest event decides an entry, whenever it arrives; an entry added by hand stays as it was', async () => {
    const at = Math.floor(Date.now() / 1000);
    await postEvents([{ event: 'unsubscribe', email: 'early@example.com', timestamp: at }]);
    const [first] = await lookUp('early@example.com');
    assert.equal(first?.reason, 'unsubscribe');
    // A bounce that occurred before the unsubscribe, posted after it: the entry is the bounce's,
    // and the address has been suppressed since the unsubscribe came.
    await postEvents([
      {
        event: 'bounce',
        email: 'Early@Example.com',
        reason: '550 no such user',
        sg_event_id: 'earlier-bounce',
        timestamp: at - 60,
      },
    ]);
    const [taken] = await lookUp('early@example.com');
    assert.deepEqual(
      [taken?.reason, taken?.event_key, taken?.detail, taken?.email, taken?.created_at],
      [
        'bounce',
        'sendgrid:earlier-bounce',
        '550 no such user',
        'Early@Example.com',
        first?.created_at,
      ],
    );

    // Added by hand: no event of the same unit's mail changes it, however early.
    const sent = await submitMessage(tegami, { to: [{ email: 'kept@example.com' }] });
    assert.equal((await finished(sent)).status, 'sent');
    const added = await tegami.request('POST', '/v1/suppressions', { email: 'kept@example.com' });
    assert.equal(added.status, 201);
    await postEvents([
      { event: 'bounce', email: 'kept@example.com', timestamp: at - 3600, tegami_message_id: sent },
    ]);
    assert.deepEqual(await lookUp('kept@example.com'), [{ ...added.body, message_id: null }]);

    // Removed, it is gone: the next new event makes a new entry, its own.
    assert.equal(
      (await tegami.request('DELETE', '/v1/suppressions/early%40example.com')).status,
      204,
    );
    await postEvents([
      {
        event: 'spamreport',
        email: 'early@example.com',
        sg_event_id: 'after-removal',
        timestamp: at + 60,
      },
    ]);
    const again = await lookUp('early@example.com');
    assert.deepEqual(
      again.map((e) => [e.reason, e.event_key]),
      [['spamreport', 'sendgrid:after-removal']],
    );
  });

  test('an event whose email is not an address suppresses nothing, and is on its message all the same', async () => {
    const id = await submitMessage(tegami, { to: [{ email: 'guest@example.com' }] });
    assert.equal((await finished(id)).status, 'sent');
    const notAddresses = [
      'not an address',
      'guest',
      'guest@',
      '@example.com',
      '<guest@example.com>',
      'guest@example.com, other@example.com',
    ];
    const kinds = ['bounce', 'spamreport', 'unsubscribe', 'group_unsubscribe'];
    await postEvents([
      ...notAddresses.map((email, i) => ({
        event: kinds[i % kinds.length],
        email,
        tegami_message_id: id,
      })),
      // In the same batch, an address is suppressed as ever.
      { event: 'bounce', email: 'guest@example.com', tegami_message_id: id },
    ]);
    for (const email of notAddresses) assert.deepEqual(await lookUp(email), [], email);
    assert.equal((await lookUp('guest@example.com'))[0]?.reason, 'bounce');
    const stored = await queryDatabase<{ email_normalized: string }>(
      tegami.databaseUrl,
      'select email_normalized from delivery_events where message_id = ?',
      [id],
    );
    assert.deepEqual(
      stored.map((e) => e.email_normalized).sort(),
      [...notAddresses, 'guest@example.com'].map((e) => e.toLowerCase()).sort(),
      "every event is on the message's timeline",
    );
  });

  test('API: add, list, remove; removing lets mail through again', async () => {
    const added = await tegami.request('POST', '/v1/suppressions', {
      email: 'Manual@Example.com',
    });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body.reason, 'manual');
    assert.equal(added.body.source, 'api');
    assert.equal(added.body.detail, null);
    const again = await tegami.request('POST', '/v1/suppressions', {
      email: 'manual@example.com',
      reason: 'manual',
    });
    assert.equal(again.status, 200);
    assert.equal(again.body.email, 'Manual@Example.com');
    assert.equal(again.body.created_at, added.body.created_at);

    const list = await tegami.request('GET', '/v1/suppressions?limit=1000');
    assert.equal(list.status, 200);
    const emails = (list.body.data as { email: string }[]).map((s) => s.email);
    assert.ok(emails.includes('Manual@Example.com'));
    const times = (list.body.data as { created_at: string }[]).map((s) => s.created_at);
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    const one = await tegami.request('GET', '/v1/suppressions?limit=1');
    assert.equal(one.body.data.length, 1);

    const blockedId = await submitMessage(tegami, { to: [{ email: 'manual@example.com' }] });
    assert.equal((await finished(blockedId)).status, 'failed');

    const removed = await tegami.request('DELETE', '/v1/suppressions/MANUAL%40example.com');
    assert.equal(removed.status, 204);
    assert.deepEqual(await lookUp('manual@example.com'), []);
    const gone = await tegami.request('DELETE', '/v1/suppressions/manual%40example.com');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'not_found');

    const sentId = await submitMessage(tegami, { to: [{ email: 'manual@example.com' }] });
    assert.equal((await finished(sentId)).status, 'sent');
    assert.deepEqual((await outbox(sentId))[0]?.envelope_to, ['manual@example.com']);
    // The message that failed can be retried by hand now.
    assert.equal((await tegami.request('POST', `/v1/messages/${blockedId}/retry`)).status, 200);
    const retried = await finished(blockedId);
    assert.equal(retried.status, 'sent');
    assert.equal(retried.recipients[0].status, 'sent');
    assert.equal(retried.recipients[0].suppressed_reason, null);
  });

  test('API validation: bad email, unknown reason, unknown fields, bad limit, no key', async () => {
    for (const body of [
      { email: 'not-an-address' },
      { email: 'ok@example.com', reason: 'bounce' },
      { email: 'ok@example.com', extra: true },
      {},
    ]) {
      const got = await tegami.request('POST', '/v1/suppressions', body);
      assert.equal(got.status, 400, JSON.stringify(body));
      assert.equal(got.body.error.code, 'invalid_request');
    }
    for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'other=1']) {
      const got = await tegami.request('GET', `/v1/suppressions?${query}`);
      assert.equal(got.status, 400, query);
      assert.equal(got.body.error.code, 'invalid_request');
    }
    const anonymous = await fetch(`${tegami.url}/v1/suppressions`);
    assert.equal(anonymous.status, 401);
  });
});

describe(`suppression of blocks with TEGAMI_SUPPRESS_BLOCKS=true (${TEST_ENGINE})`, () => {
  test('a block suppresses the address', async () => {
    const tegami = await startTestService({
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
      TEGAMI_SUPPRESS_BLOCKS: 'true',
    });
    try {
      const response = await fetch(`${tegami.url}/webhooks/sendgrid`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([
          {
            event: 'bounce',
            type: 'blocked',
            email: 'blocked@example.com',
            reason: 'IP blocked',
            timestamp: Math.floor(Date.now() / 1000),
            sg_event_id: randomUUID(),
          },
        ]),
      });
      assert.ok(response.status < 300);
      const got = await tegami.request('GET', '/v1/suppressions?email=blocked@example.com');
      assert.equal(got.body.data[0]?.reason, 'blocked');
      assert.equal(got.body.data[0]?.detail, 'IP blocked');
    } finally {
      await tegami.stop();
    }
  });
});
