import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DELIVERY_STATUSES, type DeliveryMark, foldMarks } from '../src/domain/recipient-state.ts';
import {
  checkSignature,
  eventTimeMs,
  loadPublicKey,
} from '../src/providers/sendgrid/event-source.ts';
import { loadSigningKey, signPayload } from '../src/simulator/event-webhook/signing.ts';
import { SqlDeliveryEventStore } from '../src/store/index.ts';
import {
  message,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
  waitFor,
} from './helpers.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';

/** SendGrid's own published test vector (the same in every official helper library). */
const VECTOR = {
  publicKey:
    'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==',
  payload: '{"category":"example_payload","event":"test_event","message_id":"message_id"}',
  signature:
    'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=',
  timestamp: '1588788367',
};

describe('Event Webhook signatures', () => {
  test("SendGrid's published test vector verifies; a changed byte or timestamp does not", () => {
    const key = loadPublicKey(VECTOR.publicKey);
    const at = Number(VECTOR.timestamp) * 1000;
    const check = (payload: string, timestamp: string, now = at) =>
      checkSignature(key, VECTOR.signature, timestamp, Buffer.from(payload), now, 600_000);
    assert.deepEqual(check(VECTOR.payload, VECTOR.timestamp), { ok: true });
    assert.equal(
      check(VECTOR.payload.replace('test_event', 'test_evenT'), VECTOR.timestamp).ok,
      false,
    );
    assert.equal(check(VECTOR.payload, '1588788368', at + 1000).ok, false);
    assert.equal(
      (check(VECTOR.payload, VECTOR.timestamp, at + 3600_000) as { reason: string }).reason,
      'the signature is valid, but the timestamp is 3600 s off (stale or replayed)',
    );
    // Stale and wrongly signed: the signature is what is wrong.
    assert.equal(
      (
        check(
          VECTOR.payload.replace('test_event', 'test_evenT'),
          VECTOR.timestamp,
          at + 3600_000,
        ) as { reason: string }
      ).reason,
      'the signature does not match',
    );
    assert.equal(
      (check(VECTOR.payload, `${VECTOR.timestamp}000`) as { reason: string }).reason,
      'the timestamp is not in seconds since 1970 (milliseconds?)',
    );
  });
});

describe('event times', () => {
  test('seconds as a number or as decimal text; anything else is no time (the time of receipt is used)', () => {
    assert.equal(eventTimeMs(1_800_000_000), 1_800_000_000_000);
    assert.equal(eventTimeMs(1_800_000_000.5), 1_800_000_000_500);
    // SendGrid's reference shows `"timestamp": "123456789"` once.
    assert.equal(eventTimeMs('1800000000'), 1_800_000_000_000);
    assert.equal(eventTimeMs(' 1800000000 '), 1_800_000_000_000);
    assert.equal(eventTimeMs('1.8e9'), 1_800_000_000_000);
    for (const odd of ['0x10', '0b11', '0o17', 'Infinity', '', ' ', 'abc', '1800000000s']) {
      assert.equal(eventTimeMs(odd), null, JSON.stringify(odd));
    }
    for (const odd of [0, -5, Number.NaN, 1e300, null, true, [1_800_000_000], { t: 1 }]) {
      assert.equal(eventTimeMs(odd), null, JSON.stringify(odd));
    }
  });
});

describe('recipient status from delivery events', () => {
  const mark = (status: DeliveryMark['status'], at: number, eventId: string): DeliveryMark => ({
    status,
    at,
    eventId,
  });

  test('any order and any duplicates give the same status (exhaustive over small histories)', () => {
    const events = [
      mark('accepted', 1, 'a'),
      mark('deferred', 2, 'b'),
      mark('delivered', 3, 'c'),
      mark('deferred', 4, 'd'), // a late deferral after delivery
      mark('bounced', 5, 'e'),
    ];
    // Every subset, in every order, with a duplicate of its first event appended.
    for (let mask = 1; mask < 1 << events.length; mask++) {
      const subset = events.filter((_, i) => mask & (1 << i));
      const expected = foldMarks(subset);
      for (const order of permutations(subset)) {
        assert.deepEqual(foldMarks([...order, order[0] as DeliveryMark]), expected);
      }
    }
    assert.equal(
      foldMarks([events[2] as DeliveryMark, events[3] as DeliveryMark])?.status,
      'delivered',
    );
    assert.equal(foldMarks(events)?.status, 'bounced', 'a bounce is final, even after delivered');
    assert.equal(DELIVERY_STATUSES.length, 6);
  });
});

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe(`POST /webhooks/sendgrid (${TEST_ENGINE})`, () => {
  let setup: SignedEventsSetup;
  let keys: SignedEventsSetup['keys'];
  let tegami: TestService;

  before(async () => {
    setup = await startWithSignedEvents();
    ({ keys, tegami } = setup);
  });
  after(async () => {
    await setup.stop();
  });

  function post(body: string, headers: Record<string, string>) {
    return fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  }

  function signed(body: string, timestamp = String(Math.floor(Date.now() / 1000))) {
    return {
      'x-twilio-email-event-webhook-timestamp': timestamp,
      'x-twilio-email-event-webhook-signature': signPayload(
        loadSigningKey(keys.privateKeyBase64),
        timestamp,
        Buffer.from(body),
      ),
    };
  }

  async function storedEvents(): Promise<number> {
    const rows = await tegami.service.database.db
      .selectFrom('delivery_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(rows.n);
  }

  test('events from the simulator give each recipient a status and a timeline', async () => {
    const r = await tegami.request(
      'POST',
      '/v1/messages',
      message({
        to: [{ email: 'guest@example.com' }, { email: 'bounce+1@example.com' }],
        cc: [{ email: 'defer+1@example.com' }],
      }),
    );
    const id = r.body.id as string;
    const done = await waitFor(async () => {
      const m = await tegami.request('GET', `/v1/messages/${id}`);
      const status = Object.fromEntries(
        (m.body.recipients as { email: string; delivery_status: string }[]).map((x) => [
          x.email,
          x.delivery_status,
        ]),
      );
      return status['guest@example.com'] === 'delivered' &&
        status['bounce+1@example.com'] === 'bounced' &&
        status['defer+1@example.com'] === 'delivered'
        ? m.body
        : null;
    }, 'delivery statuses from events');
    const deferred = done.recipients.find(
      (x: { email: string }) => x.email === 'defer+1@example.com',
    );
    assert.deepEqual(
      deferred.events.map((e: { event: string }) => e.event),
      ['processed', 'deferred', 'deferred', 'delivered'],
    );
    const bounced = done.recipients.find(
      (x: { email: string }) => x.email === 'bounce+1@example.com',
    );
    assert.ok(bounced.events.at(-1).detail, 'the bounce reason is shown');
  });

  test('unsigned, tampered and stale requests are refused and store nothing', async () => {
    const before = await storedEvents();
    const body = JSON.stringify([
      { email: 'x@example.com', event: 'delivered', timestamp: 1, sg_event_id: 'forged-1' },
    ]);
    const unsigned = await post(body, {});
    assert.equal(unsigned.status, 403);
    assert.equal(
      ((await unsigned.json()) as { error: { code: string } }).error.code,
      'invalid_signature',
    );
    const tampered = await post(body.replace('x@', 'y@'), signed(body));
    assert.equal(tampered.status, 403);
    const staleTime = String(Math.floor(Date.now() / 1000) - 3600);
    const stale = await post(body, signed(body, staleTime));
    assert.equal(stale.status, 403);
    assert.equal(await storedEvents(), before);
    const good = await post(body, signed(body));
    assert.equal(good.status, 200);
    assert.equal(await storedEvents(), before + 1);
  });

  test('a signed batch is read whatever its Content-Type says, none or empty included', async () => {
    // Any answer but 2xx makes SendGrid retry for 24 hours and then drop the batch, so a proxy
    // that strips or rewrites the header would lose every event; the signature covers the bytes.
    const body = JSON.stringify([
      { email: 'untyped@example.com', event: 'delivered', timestamp: 1, sg_event_id: 'untyped-1' },
    ]);
    const bytes = new TextEncoder().encode(body); // fetch labels no byte array
    const before = await storedEvents();
    const send = (headers: Record<string, string>) =>
      fetch(`${tegami.url}/webhooks/sendgrid`, { method: 'POST', headers, body: bytes });
    for (const type of [undefined, '', ' ', 'text/plain', 'application/octet-stream']) {
      const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
      const answer = await send({ ...headers, ...signed(body) });
      assert.equal(answer.status, 200, `${JSON.stringify(type)}: ${await answer.text()}`);
      // Without a type, the signature is still checked first.
      const unsigned = await send(headers);
      assert.equal(unsigned.status, 403, JSON.stringify(type));
      await unsigned.arrayBuffer();
    }
    assert.equal(await storedEvents(), before + 1, 'the repeats are the same event');
  });

  test('a batch replayed twice, or shuffled, gives the same final state', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await tegami.request(
        'POST',
        '/v1/messages',
        message({ to: [{ email: `replay${i}@example.com` }] }),
      );
      ids.push(r.body.id);
    }
    const batchFor = (id: string, email: string, tag: string) =>
      [
        ['processed', 10],
        ['deferred', 11],
        ['delivered', 12],
        ['deferred', 13],
        ['open', 14],
        // Two that suppress the address: the earlier decides the entry, whichever comes first.
        ['spamreport', 15],
        ['unsubscribe', 16],
      ].map(([event, t]) => ({
        email,
        event,
        timestamp: 1_800_000_000 + (t as number),
        sg_event_id: `${tag}-${event}-${t}`,
        tegami_message_id: id,
      }));
    const first = batchFor(ids[0] as string, 'replay0@example.com', 'r0');
    const second = batchFor(ids[1] as string, 'replay1@example.com', 'r1').reverse();
    // The first as one batch, twice; the second backwards, one event per request.
    for (const batch of [first, first, ...second.map((e) => [e])]) {
      const body = JSON.stringify(batch);
      const r = await post(body, signed(body));
      assert.equal(r.status, 200);
    }
    const replay = await post(JSON.stringify(first), signed(JSON.stringify(first)));
    assert.equal(
      ((await replay.json()) as { duplicates: number }).duplicates,
      first.length,
      'every event is recognised again',
    );
    const states = [];
    for (const id of ids) {
      const m = await tegami.request('GET', `/v1/messages/${id}`);
      const email = m.body.recipients[0].email;
      const entries = await tegami.request('GET', `/v1/suppressions?email=${email}`);
      states.push({
        status: m.body.recipients[0].delivery_status,
        // Our crafted events (the simulator adds its own for the real send too).
        events: m.body.recipients[0].events
          .filter((e: { payload: { sg_event_id: string } }) => /^r\d-/.test(e.payload.sg_event_id))
          .map((e: { event: string }) => e.event),
        suppressions: (entries.body.data as Record<string, string>[]).map((e) => ({
          reason: e.reason,
          event_key: e.event_key?.replace(/^sendgrid:r\d-/, ''),
          own_message: e.message_id === id,
        })),
      });
    }
    assert.deepEqual(states[0], states[1]);
    assert.deepEqual(states[0]?.events, [
      'processed',
      'deferred',
      'delivered',
      'deferred',
      'open',
      'spamreport',
      'unsubscribe',
    ]);
    assert.deepEqual(states[0]?.suppressions, [
      { reason: 'spamreport', event_key: 'spamreport-15', own_message: true },
    ]);
    assert.equal(states[0]?.status, 'delivered', 'a late deferred does not regress delivered');
    assert.equal(states[0]?.events.length, 7, 'each event once in the timeline');
  });

  test('the same suppressing events, forwards or backwards one per request, give the same suppression entry', async () => {
    const sent: Record<string, string> = {};
    for (const tag of ['fwd', 'rev']) {
      const r = await tegami.request(
        'POST',
        '/v1/messages',
        message({ to: [{ email: `${tag}-x@example.com` }] }),
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      sent[tag] = r.body.id;
    }
    const t0 = 1_800_000_500;
    const eventsFor = (tag: string) =>
      [
        { event: 'bounce', type: 'bounce', reason: '550 5.1.1 no such user', at: t0, id: 'a' },
        { event: 'spamreport', at: t0 + 1, id: 'c' },
        { event: 'unsubscribe', at: t0 + 2, id: 'd', email: `${tag.toUpperCase()}-X@Example.com` },
        // As early as the bounce, with a later key: the bounce's key decides.
        { event: 'group_unsubscribe', asm_group_id: 7, at: t0, id: 'z' },
      ].map(({ at, id, ...e }) => ({
        email: `${tag}-x@example.com`,
        ...e,
        timestamp: at,
        sg_event_id: `${tag}-${id}`,
        tegami_message_id: sent[tag],
      }));
    const orders = { fwd: eventsFor('fwd'), rev: eventsFor('rev').reverse() };
    for (const events of Object.values(orders)) {
      for (const event of events) {
        const body = JSON.stringify([event]);
        const r = await post(body, signed(body));
        assert.equal(r.status, 200, await r.text());
      }
    }
    const entryOf = async (tag: string): Promise<Record<string, string | null | undefined>[]> => {
      const r = await tegami.request('GET', `/v1/suppressions?email=${tag}-x@example.com`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.data as Record<string, string | null>[]).map(
        ({ created_at: _, ...entry }) => ({
          ...entry,
          email: entry.email?.replace(tag, 'TAG'),
          event_key: entry.event_key?.replace(tag, 'TAG'),
          message_id: entry.message_id === sent[tag] ? 'its message' : entry.message_id,
        }),
      );
    };
    const forwards = await entryOf('fwd');
    assert.deepEqual(forwards, [
      {
        email: 'TAG-x@example.com',
        reason: 'bounce',
        source: 'event',
        event_key: 'sendgrid:TAG-a',
        message_id: 'its message',
        detail: '550 5.1.1 no such user',
        unit: forwards[0]?.unit ?? null,
      },
    ]);
    assert.deepEqual(await entryOf('rev'), forwards, 'backwards: the same entry');
  });

  test('an event that names only the provider message id is matched now or later', async () => {
    const body = JSON.stringify([
      {
        email: 'late@example.com',
        event: 'delivered',
        timestamp: 1_800_000_100,
        sg_event_id: 'late-1',
        sg_message_id: 'LATEPROVIDERID00000000.filterdrecv-1-0',
      },
    ]);
    const r = await post(body, signed(body));
    assert.equal(((await r.json()) as { matched: number }).matched, 0, 'no attempt names it yet');
    const submitted = await tegami.request(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'late@example.com' }] }),
    );
    const id = submitted.body.id as string;
    await waitFor(
      async () => (await tegami.request('GET', `/v1/messages/${id}`)).body.status === 'sent',
      'sent',
    );
    // Pretend SendGrid's X-Message-Id for this send was the one the early event named.
    await tegami.service.database.db
      .updateTable('attempts')
      .set({ provider_message_id: 'LATEPROVIDERID00000000' })
      .where('message_id', '=', id)
      .execute();
    const matched = await new SqlDeliveryEventStore(tegami.service.database).matchLater(100);
    assert.ok(matched >= 1);
    const m = await tegami.request('GET', `/v1/messages/${id}`);
    assert.ok(
      m.body.recipients[0].events.some((e: { event: string; occurred_at: string }) =>
        e.occurred_at.startsWith('2027'),
      ),
      'the early event is in the timeline',
    );
  });
});

describe(`unconfirmed messages: accepted, then silence (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService({
      TEGAMI_UNCONFIRMED_AFTER_S: '1',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    });
  });
  after(() => tegami.stop());

  test('a sent message with no event is listed and counted until its first event', async () => {
    const r = await tegami.request('POST', '/v1/messages', message());
    const id = r.body.id as string;
    await waitFor(
      async () => (await tegami.request('GET', `/v1/messages/${id}`)).body.status === 'sent',
      'sent',
    );
    const unconfirmed = async () =>
      (await tegami.request('GET', '/v1/messages?unconfirmed=true')).body.data.map(
        (m: { id: string }) => m.id,
      );
    assert.deepEqual(await unconfirmed(), [], 'not before TEGAMI_UNCONFIRMED_AFTER_S');
    await waitFor(async () => (await unconfirmed()).includes(id), 'listed as unconfirmed', 5_000);
    const providers = await tegami.request('GET', '/v1/providers');
    assert.equal(providers.body.unconfirmed_messages, 1);

    const event = JSON.stringify([
      {
        email: 'guest@example.com',
        event: 'delivered',
        timestamp: 1_800_000_000,
        sg_event_id: 'u1',
        tegami_message_id: id,
      },
    ]);
    const posted = await fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: event,
    });
    assert.equal(posted.status, 200, 'insecure mode takes unsigned events');
    assert.deepEqual(await unconfirmed(), []);
    assert.equal((await tegami.request('GET', '/v1/providers')).body.unconfirmed_messages, 0);
  });
});

describe(`one address in two personalizations of one forwarded request (${TEST_ENGINE})`, () => {
  let setup: SignedEventsSetup;
  before(async () => {
    setup = await startWithSignedEvents({ env: { TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true' } });
  });
  after(() => setup.stop());

  test('its delivery is one status change: one recipient.delivered status webhook', async () => {
    const { tegami } = setup;
    // Nothing listens there: the deliveries stay queued, which is all this test counts.
    const endpoint = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['recipient.delivered'],
    });
    assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
    const sent = await fetch(`${tegami.url}/v3/mail/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
      body: JSON.stringify({
        personalizations: [
          { to: [{ email: 'twice@example.com' }], subject: 'First' },
          { to: [{ email: 'Twice@example.com' }, { email: 'once@example.com' }] },
        ],
        from: { email: 'bookings@hotel.example' },
        subject: 'Booking',
        content: [{ type: 'text/plain', value: 'See you soon.' }],
      }),
    });
    assert.equal(sent.status, 202, await sent.text());
    const id = await waitFor(async () => {
      const rows = await tegami.service.database.db
        .selectFrom('recipients')
        .select(['message_id', 'delivery_status'])
        .where('email_normalized', '=', 'once@example.com')
        .execute();
      return rows[0]?.delivery_status === 'delivered' ? rows[0].message_id : null;
    }, 'the simulator’s delivery events');
    const twice = await waitFor(async () => {
      const m = await tegami.request('GET', `/v1/messages/${id}`);
      const rows = (m.body.recipients as { email: string; delivery_status: string }[]).filter(
        (r) => r.email.toLowerCase() === 'twice@example.com',
      );
      return rows.length === 2 && rows.every((r) => r.delivery_status === 'delivered')
        ? rows
        : null;
    }, 'both rows of the address delivered');
    assert.equal(twice.length, 2, 'the address is listed once per personalization');
    // The simulator's events of both copies are in (two delivered events for the address).
    await waitFor(async () => {
      const rows = await tegami.service.database.db
        .selectFrom('delivery_events')
        .select('event_key')
        .where('message_id', '=', id)
        .where('email_normalized', '=', 'twice@example.com')
        .where('event', '=', 'delivered')
        .execute();
      return rows.length >= 2;
    }, 'both copies’ delivered events');
    const hooks = await tegami.service.database.db
      .selectFrom('webhook_deliveries')
      .select(['event_type', 'payload'])
      .where('endpoint_id', '=', endpoint.body.id)
      .execute();
    const forAddress = hooks.filter((h) => h.payload.includes('twice@example.com'));
    assert.equal(forAddress.length, 1, JSON.stringify(hooks, null, 1));
    assert.equal(hooks.filter((h) => h.payload.includes('once@example.com')).length, 1);
  });
});
