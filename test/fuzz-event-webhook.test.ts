import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_EVENT_DEPTH, nestedDeeperThan } from '../src/domain/delivery-event-limits.ts';
import {
  normaliseEvent,
  EVENT_WEBHOOK_BODY_LIMIT as WEBHOOK_BODY_LIMIT,
} from '../src/providers/sendgrid/event-source.ts';
import {
  generateSigningKey,
  loadSigningKey,
  signPayload,
} from '../src/simulator/event-webhook/signing.ts';
import { message, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { fuzzRuns } from './support/fuzz.ts';

/**
 * Property tests of `POST /webhooks/sendgrid` with arbitrary and hostile batches, signed
 * correctly or not: it never answers 5xx; a refused batch stores nothing; an accepted batch
 * stores each storable event once (the events `normaliseEvent` accepts, by their key); and the
 * message the events name stays readable.
 *
 * Each event is generated as JSON text, not as a value: JSON.stringify recurses, so a document
 * nested 10,000 levels deep can only be written out by hand.
 */

/** Ids drawn from a small pool, so batches repeat events within and across posts. */
const pooledId = fc.constantFrom('ev-1', 'ev-2', 'ev-3', 'ev-4', 'ev-5', 'ev-6');

const hostileString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }), // NUL, lone surrogates, anything
  fc.constantFrom('', '\u0000', '\uD800', 'x\u0000y', '__proto__', 'constructor'),
  fc.integer({ min: 300, max: 5_000 }).map((n) => 'z'.repeat(n)),
);

const hugeNumber = fc.constantFrom(
  1e15,
  1e300,
  -1e300,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MAX_SAFE_INTEGER + 2,
  -1,
  0,
  0.5,
  253_402_300_800, // the first second of year 10000
);

const timestamp = fc.oneof(
  fc.integer({ min: 1_600_000_000, max: 1_900_000_000 }),
  hugeNumber,
  fc.double(),
  hostileString,
  fc.constantFrom(null, true, [], {}),
);

/** Any JSON value, of bounded size. */
const anyJson = fc.jsonValue({ maxDepth: 4 });

/** Events shaped like SendGrid's, with some fields wrong. */
function eventObject(messageId: string) {
  return fc.record(
    {
      email: fc.oneof(
        fc.constantFrom('guest@example.com', 'Guest@Example.com', 'other@example.com'),
        hostileString,
        anyJson,
      ),
      event: fc.oneof(
        fc.constantFrom(
          'processed',
          'delivered',
          'deferred',
          'bounce',
          'dropped',
          'open',
          'click',
          'spamreport',
          'unsubscribe',
          'group_unsubscribe',
          'something_new',
        ),
        hostileString,
        anyJson,
      ),
      timestamp,
      sg_event_id: fc.oneof(pooledId, hostileString, anyJson),
      sg_message_id: fc.oneof(fc.constantFrom('SGID1.filter-1', 'SGID2'), hostileString, anyJson),
      tegami_message_id: fc.oneof(fc.constant(messageId), hostileString, anyJson),
      type: fc.oneof(fc.constantFrom('bounce', 'blocked'), anyJson),
      reason: fc.oneof(hostileString, anyJson),
      extra: anyJson,
    },
    { requiredKeys: [] },
  );
}

/** Nesting as JSON text: `depth` levels of arrays or objects around a value. */
const nested = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constantFrom(10_000, 100_000)),
    objects: fc.boolean(),
  })
  .map(({ depth, objects }) =>
    objects
      ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
      : `${'['.repeat(depth)}]${']'.repeat(depth - 1)}`,
  );

/** One event as JSON text. */
function eventText(messageId: string) {
  return fc.oneof(
    { weight: 6, arbitrary: eventObject(messageId).map((e) => JSON.stringify(e)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(eventObject(messageId), nested)
        .map(
          ([e, deep]) =>
            `${JSON.stringify(e).slice(0, -1)}${Object.keys(e).length ? ',' : ''}"nested":${deep}}`,
        ),
    },
    { weight: 1, arbitrary: nested },
    { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 100_000, max: 400_000 })
        .map((n) =>
          JSON.stringify({ email: 'guest@example.com', event: 'open', reason: 'r'.repeat(n) }),
        ),
    },
  );
}

/** The body as posted: usually a JSON array of events, sometimes not an array or not JSON. */
function body(messageId: string) {
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .array(eventText(messageId), { maxLength: 25 })
        .map((events) => `[${events.join(',')}]`),
    },
    {
      weight: 1,
      arbitrary: fc.oneof(
        nested,
        eventText(messageId),
        fc.constantFrom('', '[', 'null', '{}', '"text"', '[1,2', 'not json'),
        fc.string({ unit: 'binary', maxLength: 50 }),
      ),
    },
  );
}

const signing = fc.constantFrom('good', 'good', 'good', 'none', 'wrong', 'stale', 'tampered');

describe(`Event Webhook properties (${TEST_ENGINE})`, () => {
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
    assert.equal(r.status, 202);
    messageId = r.body.id;
  });
  after(async () => {
    await tegami.stop();
  });

  async function storedKeys(): Promise<Set<string>> {
    const rows = await tegami.service.database.db
      .selectFrom('delivery_events')
      .select('event_key')
      .execute();
    return new Set(rows.map((r) => r.event_key));
  }

  function headers(kind: string, bytes: Buffer): Record<string, string> {
    const now = Math.floor(Date.now() / 1000);
    const sign = (timestamp: number, signed: Buffer) => ({
      'x-twilio-email-event-webhook-timestamp': String(timestamp),
      'x-twilio-email-event-webhook-signature': signPayload(signingKey, String(timestamp), signed),
    });
    switch (kind) {
      case 'good':
        return sign(now, bytes);
      case 'none':
        return {};
      case 'wrong':
        return {
          ...sign(now, bytes),
          'x-twilio-email-event-webhook-signature': 'bm90IGEgc2lnbmF0dXJl',
        };
      case 'stale':
        return sign(now - 3_600, bytes);
      default: // tampered: a signature over other bytes
        return sign(now, Buffer.concat([bytes, Buffer.from(' ')]));
    }
  }

  test('never 5xx; refused batches store nothing; accepted ones store each storable event once', async () => {
    await fc.assert(
      fc.asyncProperty(body(messageId), signing, async (text, kind) => {
        const bytes = Buffer.from(text);
        const before = await storedKeys();
        const response = await fetch(`${tegami.url}/webhooks/sendgrid`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers(kind, bytes) },
          body: bytes,
        });
        const answer = (await response.json()) as Record<string, unknown>;
        assert.ok(response.status < 500, `${response.status}: ${JSON.stringify(answer)}`);
        const after = await storedKeys();

        let parsed: unknown;
        try {
          parsed = JSON.parse(bytes.toString('utf8'));
        } catch {
          parsed = undefined;
        }
        if (bytes.length > WEBHOOK_BODY_LIMIT) {
          assert.equal(response.status, 413);
          assert.equal(after.size, before.size, 'a refused batch stores nothing');
          return;
        }
        if (kind !== 'good' || !Array.isArray(parsed)) {
          assert.ok(response.status >= 400, 'refused');
          assert.equal(
            (answer.error as { code?: string })?.code !== undefined,
            true,
            'error shape',
          );
          assert.equal(after.size, before.size, 'a refused batch stores nothing');
          return;
        }
        const expected = new Set<string>();
        let storable = 0;
        for (const raw of parsed) {
          const event = normaliseEvent(raw, Date.now());
          if (!event) continue;
          storable++;
          expected.add(event.key);
        }
        const fresh = [...expected].filter((key) => !before.has(key));
        for (const key of expected) assert.ok(after.has(key), `${key} is stored`);
        assert.equal(after.size - before.size, fresh.length, 'only the storable events, once');
        // An event nested deeper than any SendGrid event: 400, once the others are stored.
        if (parsed.some((raw) => nestedDeeperThan(raw, MAX_EVENT_DEPTH))) {
          assert.equal(response.status, 400, JSON.stringify(answer));
          return;
        }
        assert.equal(response.status, 200, JSON.stringify(answer));
        assert.deepEqual(
          { received: answer.received, stored: answer.stored, rejected: answer.rejected },
          { received: storable, stored: fresh.length, rejected: parsed.length - storable },
        );
        assert.equal(answer.duplicates, storable - fresh.length);

        const read = await tegami.request('GET', `/v1/messages/${messageId}`);
        assert.equal(read.status, 200, JSON.stringify(read.body).slice(0, 300));
      }),
      { numRuns: fuzzRuns(100) },
    );
    // And after all of it, the lists still read.
    for (const path of ['/v1/messages', '/v1/suppressions?limit=1000']) {
      assert.equal((await tegami.request('GET', path)).status, 200, path);
    }
  });
});
