import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { newId } from '../src/domain/ids.ts';
import { message, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';

/**
 * No stored value may make a read endpoint fail. Rows are written straight into the database
 * with values no code path of Tegami writes, but that a hand edit, an older version, a provider's
 * odd event or a future bug could leave behind: times far outside what a Date can hold, text
 * where numbers belong (SQLite lets any column hold any type), JSON that is not JSON, JSON of the
 * wrong shape, JSON nested 10,000 levels deep, strings of megabytes. Every read endpoint (and the
 * write endpoints that answer with a presented row) must still answer without a 5xx.
 */

const sqlite = TEST_ENGINE === 'sqlite';

// bigint columns: PostgreSQL holds any 64-bit integer, SQLite anything at all.
const TIMES: unknown[] = [
  '9223372036854775807',
  '-9223372036854775808',
  '1000000000000000000', // an event `timestamp` of 1e15 seconds, in milliseconds
  '-1000000000000000000',
  '8640000000000001', // one past the last millisecond a Date can hold
  '-8640000000000001',
  '0',
  '-1',
  ...(sqlite ? ['NaN', 'abc', '', '1e999', 1.5, sql`9e999`, sql`-9e999`] : []),
];
// integer columns: 32 bits on PostgreSQL.
const INTS: unknown[] = [
  '2147483647',
  '-2147483648',
  '0',
  '-1',
  ...(sqlite ? ['9223372036854775807', 'abc', '', 1.5, sql`9e999`] : []),
];

const deepArray = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
const deepObject = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
const long = 'x'.repeat(1_000_000);
// PostgreSQL refuses index entries over ~2.7 kB at write time, so indexed text columns get the
// longest value it can hold there.
const longKey = sqlite ? long : 'y'.repeat(2_000);
const ODD_JSON = [
  '',
  'not json',
  'null',
  '5',
  '"text"',
  '[]',
  '{}',
  '[1,{"a":2}]',
  '1e400',
  '{"n":1e400,"m":-1e400}',
  deepArray,
  deepObject,
  `{"reason":${deepObject}}`,
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}',
  JSON.stringify({ reason: long, response: long, url: long }),
  '{"reason":5,"response":{},"url":null}',
];
const CONTENTS = [
  ...ODD_JSON,
  JSON.stringify({
    from: 5,
    to: 'x',
    reply_to: 'x',
    subject: {},
    text: 7,
    html: null,
    headers: [1],
    metadata: { a: {}, b: 'ok' },
    categories: [1, null, 'ok'],
    attachments: [null, 5, { content: 7 }, { filename: 'a', content: 'QUJD', content_type: 1 }],
  }),
  JSON.stringify({ ...message(), from: { email: long, name: 5 }, subject: long }),
];
const STATUSES = ['queued', 'sending', 'failed', 'sent', 'cancelled', '', longKey, 'scheduled'];
const TEXTS: (string | null)[] = [
  null,
  '',
  long,
  'ordinary',
  ...(sqlite ? ['nul\u0000inside'] : []),
];
const KEY_TEXTS = TEXTS.map((t) => (t === long ? longKey : t));

const at = <T>(list: T[], i: number): T => list[i % list.length] as T;

describe(`read endpoints and odd stored values (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  // biome-ignore lint/suspicious/noExplicitAny: rows of types the schema does not allow
  let db: Kysely<any>;
  const messageIds: string[] = [];
  const endpointIds: string[] = [];
  const sandboxMessageIds: string[] = [];
  const rounds = Math.max(TIMES.length, CONTENTS.length, INTS.length, STATUSES.length);

  before(async () => {
    // No worker: the rows stay exactly as written (nothing claims, sends or posts them).
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    });
    // biome-ignore lint/suspicious/noExplicitAny: as above
    db = tegami.service.database.db as unknown as Kysely<any>;
    for (let i = 0; i < rounds; i++) {
      const id = newId('msg');
      messageIds.push(id);
      const email = i % 3 === 0 ? longKey : `guest${i}@example.com`;
      await db
        .insertInto('messages')
        .values({
          id,
          api_key_id: null,
          status: at(STATUSES, i),
          from_email: 'bookings@hotel.example',
          subject: 'odd',
          content: at(CONTENTS, i),
          send_at: i % 2 === 0 ? null : at(TIMES, i),
          created_at: at(TIMES, i),
          updated_at: at(TIMES, i + 1),
          attempt_count: at(INTS, i),
          attempts_before_retry: at(INTS, i + 1),
          next_attempt_at: i % 4 === 0 ? null : at(TIMES, i + 2),
          lease_owner: null,
          lease_expires_at: at(TIMES, i + 3),
          sent_at: i % 5 === 0 ? null : at(TIMES, i + 4),
          last_error: at(TEXTS, i),
        })
        .execute();
      await db
        .insertInto('recipients')
        .values({
          message_id: id,
          position: at(INTS, i),
          kind: at(['to', 'cc', 'bcc', '', long], i),
          email,
          email_normalized: email.toLowerCase(),
          name: at(TEXTS, i + 1),
          status: at(STATUSES, i + 1),
          updated_at: at(TIMES, i),
          delivery_status: at(TEXTS, i + 2),
          delivery_status_at: i % 2 === 0 ? null : at(TIMES, i + 5),
          delivery_event_key: null,
          suppressed_reason: at(TEXTS, i + 3),
        })
        .execute();
      await db
        .insertInto('attempts')
        .values({
          message_id: id,
          number: at(INTS, i),
          provider: at(['sandbox', '', long], i),
          started_at: at(TIMES, i),
          duration_ms: at(INTS, i + 2),
          outcome: at(['accepted', 'unknown', '', long], i),
          http_status: i % 3 === 0 ? null : at(INTS, i + 3),
          provider_message_id: at(KEY_TEXTS, i),
          error_class: at(TEXTS, i + 1),
          detail: at(TEXTS, i + 2),
          response_excerpt: at(TEXTS, i + 3),
          provider_fault: at(TEXTS, i + 4),
          provider_errors: i % 4 === 0 ? null : at(ODD_JSON, i),
          rate_limit: i % 5 === 0 ? null : at(ODD_JSON, i + 1),
          network_error: at(TEXTS, i),
        })
        .execute();
      for (let e = 0; e < 2; e++) {
        await db
          .insertInto('delivery_events')
          .values({
            event_key: `sendgrid:odd-${i}-${e}`,
            provider: 'sendgrid',
            message_id: id,
            email_normalized: email.toLowerCase(),
            event: at(['delivered', 'bounce', '', long], i + e),
            occurred_at: at(TIMES, i + e),
            received_at: at(TIMES, i + e + 1),
            provider_message_id: null,
            payload: at(ODD_JSON, i + e),
          })
          .execute();
      }
      await db
        .insertInto('suppressions')
        .values({
          email_normalized: `odd${i}-${email}`.toLowerCase().slice(0, longKey.length),
          email: at([email, long, ''], i),
          reason: at(['bounce', '', long], i),
          source: at(['event', '', long], i),
          event_key: at(TEXTS, i),
          detail: at(TEXTS, i + 1),
          created_at: at(TIMES, i),
        })
        .execute();
      const endpointId = newId('whk');
      endpointIds.push(endpointId);
      await db
        .insertInto('webhook_endpoints')
        .values({
          id: endpointId,
          url: at(['https://app.example/hooks', '', long], i),
          event_types: at(ODD_JSON, i),
          secret: 'a-secret-of-sixteen-or-more',
          created_at: at(TIMES, i),
          disabled_at: null,
        })
        .execute();
      await db
        .insertInto('webhook_deliveries')
        .values({
          id: newId('whd'),
          endpoint_id: endpointId,
          event_type: at(['message.sent', '', long], i),
          payload: at(ODD_JSON, i),
          status: at(['pending', 'delivered', 'failed', '', longKey], i),
          attempts: at(INTS, i),
          next_attempt_at: i % 2 === 0 ? null : at(TIMES, i),
          last_status: i % 3 === 0 ? null : at(INTS, i + 1),
          last_error: at(TEXTS, i),
          created_at: at(TIMES, i + 1),
          retry_from: at(TIMES, i + 2),
          delivered_at: i % 2 === 1 ? null : at(TIMES, i + 3),
        })
        .execute();
      await db
        .insertInto('provider_health')
        .values({
          provider: at(['sandbox', 'sendgrid', '', longKey], i),
          reporter: `host/${i}/odd`,
          state: at(['healthy', 'paused', 'unknown-state', '', long], i),
          reason: at(TEXTS, i),
          since: at(TIMES, i),
          next_check_at: i % 2 === 0 ? null : at(TIMES, i + 1),
          details: at(
            [
              ...ODD_JSON,
              '{"accepted":"many","failed":1e400,"recentErrors":[null,5,{"errorClass":{},"count":"x","lastAt":1e300,"lastDetail":7}]}',
              '{"recentErrors":"none"}',
            ],
            i,
          ),
          // Most rows are fresh, so they are summarised rather than only listed as stale.
          updated_at: i % 4 === 0 ? at(TIMES, i) : Date.now(),
        })
        .execute();
      const sandboxMessageId = at([id, 'msg_plain', 'x'.repeat(64)], i);
      sandboxMessageIds.push(sandboxMessageId);
      await db
        .insertInto('sandbox_messages')
        .values({
          id: newId('sbx'),
          message_id: sandboxMessageId,
          attempt: at(INTS, i),
          envelope_from: at(['bookings@hotel.example', '', long], i),
          envelope_to: at(ODD_JSON, i + 1),
          subject: at(['odd', '', long], i),
          message: at(
            [
              ...ODD_JSON,
              JSON.stringify({
                id,
                attempt: 1,
                content: JSON.parse(at(CONTENTS, CONTENTS.length - 1)),
              }),
            ],
            i,
          ),
          created_at: at(TIMES, i),
        })
        .execute();
    }
  });

  after(async () => {
    await tegami?.stop();
  });

  /** A read must answer 200 with JSON; anything else is reported with the request. */
  async function ok(path: string) {
    const r = await tegami.request('GET', path);
    assert.equal(
      r.status,
      200,
      `GET ${path.slice(0, 200)} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 500)}`,
    );
    assert.equal(typeof r.body, 'object', `GET ${path.slice(0, 200)} answered JSON`);
    return r.body;
  }

  test('GET /v1/messages/{id} shows every odd message', async () => {
    for (const id of messageIds) {
      const body = await ok(`/v1/messages/${id}`);
      assert.equal(body.id, id);
      for (const r of body.recipients) assert.equal(r.events.length, 2, 'both events are shown');
    }
  });

  test('GET /v1/messages pages through all of them, whatever the filter', async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = await ok(`/v1/messages?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      for (const m of page.data) seen.add(m.id);
      cursor = page.next_cursor;
    } while (cursor);
    for (const id of messageIds) assert.ok(seen.has(id), `${id} listed`);
    await ok('/v1/messages?limit=500&status=sent');
    await ok('/v1/messages?limit=500&unconfirmed=true');
    await ok('/v1/messages?limit=500&recipient=guest1@example.com');
  });

  test('cancel and retry answer with the presented message, or a 4xx', async () => {
    for (const id of messageIds) {
      for (const action of ['cancel', 'retry']) {
        const r = await tegami.request('POST', `/v1/messages/${id}/${action}`);
        assert.ok([200, 409].includes(r.status), `${action} ${id}: ${r.status}`);
      }
    }
  });

  test('GET /v1/suppressions lists every odd entry', async () => {
    const body = await ok('/v1/suppressions?limit=1000');
    assert.ok(body.data.length >= rounds);
    await ok(`/v1/suppressions?email=${encodeURIComponent(`odd1-guest1@example.com`)}`);
  });

  test('GET /v1/webhook-endpoints and each delivery log', async () => {
    const body = await ok('/v1/webhook-endpoints');
    assert.ok(body.data.length >= rounds);
    for (const id of endpointIds) {
      // (Retention may already have removed a finished delivery with an old creation time.)
      const log = await ok(`/v1/webhook-endpoints/${id}/deliveries?limit=1000`);
      assert.ok(log.data.length <= 1);
    }
  });

  test('GET /v1/providers summarises odd health reports', async () => {
    const body = await ok('/v1/providers');
    assert.ok(body.providers.length >= 1);
  });

  test('GET /v1/sandbox/messages shows odd entries (without MIME where it cannot render)', async () => {
    const body = await ok('/v1/sandbox/messages?limit=1000');
    assert.ok(body.data.length >= rounds);
    for (const id of new Set(sandboxMessageIds)) {
      await ok(`/v1/sandbox/messages?message_id=${encodeURIComponent(id)}`);
    }
  });
});
