import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_EVENT_DEPTH } from '../src/domain/delivery-event-limits.ts';
import { EVENT_WEBHOOK_BODY_LIMIT as WEBHOOK_BODY_LIMIT } from '../src/providers/sendgrid/event-source.ts';
import {
  generateSigningKey,
  loadSigningKey,
  signPayload,
} from '../src/simulator/event-webhook/signing.ts';
import { SqlDeliveryEventStore } from '../src/store/index.ts';
import { queueRelayedEvents } from '../src/store/sendgrid-compat/queue-relayed-events.ts';
import { INGEST_SLICE } from '../src/tracking/ingest-events.ts';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';

/**
 * What a signed Event Webhook batch may hold without harming Tegami: event times out of any
 * range, nesting 10,000 levels deep, ids no database can index, bodies larger than SendGrid ever
 * posts, and batches large enough to hold up other requests.
 */
describe(`Event Webhook limits (${TEST_ENGINE})`, () => {
  const keys = generateSigningKey();
  const signingKey = loadSigningKey(keys.privateKeyBase64);
  let tegami: TestService;
  let messageId: string;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKeyBase64,
      TEGAMI_TEST_NO_WORKER: '1',
    });
    const r = await tegami.request('POST', '/v1/messages', message());
    messageId = r.body.id;
  });
  after(async () => {
    await tegami.stop();
  });

  function post(body: string | Buffer, signed = true) {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const timestamp = String(Math.floor(Date.now() / 1000));
    return fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(signed
          ? {
              'x-twilio-email-event-webhook-timestamp': timestamp,
              'x-twilio-email-event-webhook-signature': signPayload(signingKey, timestamp, bytes),
            }
          : {}),
      },
      body: bytes,
    });
  }

  async function stored(keyPrefix: string) {
    return tegami.service.database.db
      .selectFrom('delivery_events')
      .select(['event_key', 'occurred_at'])
      .where('event_key', 'like', `sendgrid:${keyPrefix}%`)
      .orderBy('event_key')
      .execute();
  }

  test('event times out of range are stored as the time of receipt; the message stays readable', async () => {
    const odd = [1e15, 1e300, -5, 0, '1e15', 'abc', 253_402_300_800, null, true, { t: 1 }];
    const events = odd.map((timestamp, i) => ({
      email: 'guest@example.com',
      event: 'delivered',
      timestamp,
      sg_event_id: `time-${i}`,
      tegami_message_id: messageId,
    }));
    events.push({
      email: 'guest@example.com',
      event: 'processed',
      timestamp: 1_800_000_000,
      sg_event_id: 'time-ordinary',
      tegami_message_id: messageId,
    });
    const before = Date.now();
    const r = await post(JSON.stringify(events));
    const after = Date.now();
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {
      received: events.length,
      stored: events.length,
      duplicates: 0,
      matched: events.length,
      rejected: 0,
    });
    const got = await tegami.request('GET', `/v1/messages/${messageId}`);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    const shown = got.body.recipients[0].events as {
      occurred_at: string;
      payload: { sg_event_id: string; timestamp: unknown };
    }[];
    assert.equal(shown.length, events.length);
    for (const e of shown) {
      const index = Number(e.payload.sg_event_id.slice('time-'.length));
      if (e.payload.sg_event_id === 'time-ordinary') {
        assert.equal(e.occurred_at, new Date(1_800_000_000_000).toISOString());
        continue;
      }
      const at = Date.parse(e.occurred_at);
      assert.ok(at >= before - 1000 && at <= after + 1000, `${e.payload.sg_event_id}: ${at}`);
      assert.deepEqual(e.payload.timestamp, odd[index], 'the raw value is kept');
    }
    assert.equal((await tegami.request('GET', '/v1/messages')).status, 200);
  });

  test('a batch with an event nested 10,000 levels deep is answered 400; its other events are stored', async () => {
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const body = `[${JSON.stringify({ email: 'guest@example.com', event: 'open', sg_event_id: 'deep-ok', tegami_message_id: messageId })},{"email":"guest@example.com","event":"open","sg_event_id":"deep-bad","nested":${deep}}]`;
    const r = await post(body);
    assert.equal(r.status, 400);
    const refusal = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(refusal.error.code, 'invalid_request');
    assert.match(
      refusal.error.message,
      /^event 1 nests objects or arrays deeper than 32 levels .*\(stored 1, duplicates 0, rejected 1\)$/,
    );
    const keys = (await stored('deep-')).map((row) => row.event_key);
    assert.deepEqual(keys, ['sendgrid:deep-ok']);
    // Posted again (as SendGrid retries a batch it got no 2xx for), nothing is stored twice.
    const again = await post(body);
    assert.equal(again.status, 400);
    assert.match(
      ((await again.json()) as { error: { message: string } }).error.message,
      /\(stored 0, duplicates 1, rejected 1\)$/,
    );
    assert.deepEqual(
      (await stored('deep-')).map((row) => row.event_key),
      ['sendgrid:deep-ok'],
    );

    // Just within the limit is fine.
    let nested: unknown = 1;
    for (let i = 1; i < MAX_EVENT_DEPTH; i++) nested = { a: nested };
    const edge = await post(
      JSON.stringify([
        { email: 'guest@example.com', event: 'open', sg_event_id: 'deep-edge', nested },
      ]),
    );
    assert.equal(((await edge.json()) as { stored: number }).stored, 1);

    // A body that is nothing but nesting: 100,000 levels of arrays, or of objects.
    const arrays = await post(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    assert.equal(arrays.status, 400);
    assert.equal(
      ((await arrays.json()) as { error: { code: string } }).error.code,
      'invalid_request',
    );
    const objects = await post(deep);
    assert.equal(objects.status, 400);
    assert.equal(
      ((await objects.json()) as { error: { code: string } }).error.code,
      'invalid_request',
    );
    assert.equal(
      (await tegami.request('GET', `/v1/messages/${messageId}`)).status,
      200,
      'the message stays readable',
    );
  });

  test('events with ids no database can keep are rejected on their own', async () => {
    const base = { email: 'guest@example.com', event: 'open' };
    const events = [
      { ...base, sg_event_id: 'x'.repeat(5_000) },
      { ...base, sg_event_id: 'ids-nul\u0000' },
      { ...base, sg_event_id: 'ids-lone\uD800' },
      { ...base, sg_event_id: 'ids-long-message', sg_message_id: 'y'.repeat(5_000) },
      { ...base, event: 'open\u0000', sg_event_id: 'ids-nul-event' },
      { ...base, email: 'nul\u0000@example.com', sg_event_id: 'ids-nul-email' },
      { ...base, sg_event_id: 'ids-ok', reason: 'has a NUL \u0000 inside' },
    ];
    const r = await post(JSON.stringify(events));
    assert.equal(r.status, 200);
    const result = (await r.json()) as { stored: number; rejected: number };
    assert.deepEqual([result.stored, result.rejected], [1, events.length - 1]);
    assert.deepEqual(
      (await stored('ids-')).map((row) => row.event_key),
      ['sendgrid:ids-ok'],
    );
  });

  test(`a body over ${WEBHOOK_BODY_LIMIT / 1024 / 1024} MiB gets 413 in the error shape and stores nothing`, async () => {
    const count = async () =>
      Number(
        (
          await tegami.service.database.db
            .selectFrom('delivery_events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const event = JSON.stringify({
      email: 'guest@example.com',
      event: 'open',
      pad: 'p'.repeat(1000),
    });
    const big = Buffer.from(
      `[${Array.from({ length: Math.ceil(WEBHOOK_BODY_LIMIT / event.length) + 1 }, () => event).join(',')}]`,
    );
    assert.ok(big.length > WEBHOOK_BODY_LIMIT);
    const r = await post(big);
    assert.equal(r.status, 413);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'payload_too_large');

    // Without a Content-Length (chunked), the limit holds as the body arrives.
    const chunked = await fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < big.length; i += 1024 * 1024)
            controller.enqueue(big.subarray(i, i + 1024 * 1024));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);
    assert.equal(await count(), before);
  });

  test('events of mail nobody relays take no write transaction for the event relay', async () => {
    // The drill's reproduction: another process held SQLite's write lock just after the last
    // slice was stored; the relay's empty write transaction waited 5 s for it and the batch,
    // stored whole, was answered 503 (and posted again by SendGrid).
    const events = Array.from({ length: 3 }, (_, i) => ({
      email: 'guest@example.com',
      event: 'delivered',
      timestamp: 1_800_000_000 + i,
      sg_event_id: `unrelayed-${i}`,
      tegami_message_id: messageId,
    }));
    const r = await post(JSON.stringify(events));
    assert.equal(((await r.json()) as { matched: number }).matched, events.length);
    const handle = tegami.service.database;
    let writes = 0;
    const counting = Object.create(handle) as typeof handle;
    counting.writeTransaction = (work, options) => {
      writes++;
      return handle.writeTransaction(work, options);
    };
    const keys = events.map((e) => `sendgrid:${e.sg_event_id}`);
    assert.equal(await queueRelayedEvents(counting, keys, Date.now()), 0);
    assert.equal(writes, 0, 'no write transaction when nothing is relayed');
  });

  test('a large batch is stored in slices, letting other work run between them', async () => {
    const events = Array.from({ length: INGEST_SLICE * 2 + 500 }, (_, i) => ({
      email: `slice${i % 50}@example.com`,
      event: 'delivered',
      timestamp: 1_800_000_000 + i,
      sg_event_id: `slice-${i}`,
    }));
    // Each slice sets a flag on the next turn of the event loop; the next slice finds it set
    // only if the route let the event loop turn in between.
    const original = SqlDeliveryEventStore.prototype.ingest;
    const turnedBetween: boolean[] = [];
    let turned = true;
    SqlDeliveryEventStore.prototype.ingest = function (this: SqlDeliveryEventStore, ...args) {
      turnedBetween.push(turned);
      turned = false;
      setImmediate(() => {
        turned = true;
      });
      return original.apply(this, args);
    };
    try {
      const body = JSON.stringify(events);
      const r = await post(body);
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { stored: number }).stored, events.length);
      const again = await post(body);
      assert.equal(((await again.json()) as { duplicates: number }).duplicates, events.length);
    } finally {
      SqlDeliveryEventStore.prototype.ingest = original;
    }
    assert.equal(turnedBetween.length, 6, 'three slices per post');
    assert.ok(turnedBetween.every(Boolean), 'the event loop turned between slices');
    await waitFor(async () => (await stored('slice-')).length === events.length, 'all stored');
  });
});
