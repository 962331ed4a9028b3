// tegami-test: no-database

import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { EventWebhookEmitter } from '../src/simulator/event-webhook/emitter.ts';
import {
  type AcceptedSend,
  eventIdFactory,
  generateEvents,
  outcomeFor,
  type SendGridEvent,
  SIMULATED,
} from '../src/simulator/event-webhook/generate-events.ts';
import {
  loadSigningKey,
  signPayload,
  verifySignature,
} from '../src/simulator/event-webhook/signing.ts';

/** A fixed P-256 key pair: the private key as base64 PKCS#8 DER and as SEC1 PEM, the public SPKI. */
const FIXED_PRIVATE_PKCS8 =
  'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGikx7STpmizY71Vn46JwQn4tjdEKLsp1FtJ2K9BbVWKhRANCAARnbUnJjbOjQiFOLf9w7HZ99BB/Nqam9b3eRQ4y9Q7Pq20T0gMPsIHTgsZHm5mRMNojup/nLKzFUhhuRaC376Mq';
const FIXED_PRIVATE_PEM = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBopMe0k6Zos2O9VZ+OicEJ+LY3RCi7KdRbSdivQW1VioAoGCCqGSM49
AwEHoUQDQgAEZ21JyY2zo0IhTi3/cOx2ffQQfzampvW93kUOMvUOz6ttE9IDD7CB
04LGR5uZkTDaI7qf5yysxVIYbkWgt++jKg==
-----END EC PRIVATE KEY-----
`;
const FIXED_PUBLIC =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZ21JyY2zo0IhTi3/cOx2ffQQfzampvW93kUOMvUOz6ttE9IDD7CB04LGR5uZkTDaI7qf5yysxVIYbkWgt++jKg==';

const RECEIVED_AT = Date.UTC(2025, 0, 15, 12, 0, 0);
const X_MESSAGE_ID = 'V2pzUmp5S0FSbWVyX0tFWg';

function send(body: Record<string, unknown>, xMessageId = X_MESSAGE_ID): AcceptedSend {
  return {
    xMessageId,
    receivedAt: RECEIVED_AT,
    body: {
      from: { email: 'sender@example.com' },
      subject: 'Hello',
      content: [{ type: 'text/plain', value: 'Hi there' }],
      ...body,
    },
  };
}

function to(...emails: string[]) {
  return { personalizations: [{ to: emails.map((email) => ({ email })) }] };
}

/** Deterministic ids for the pure generator. */
function counterIds(): () => string {
  let n = 0;
  return () => `evt${++n}`;
}

function generate(body: Record<string, unknown>, engagement = false) {
  return generateEvents(send(body), { eventDelayMs: 1000, engagement }, counterIds());
}

function names(events: { event: SendGridEvent }[]): unknown[] {
  return events.map(({ event }) => event.event);
}

const COMMON = ['email', 'timestamp', 'event', 'sg_event_id', 'sg_message_id'];
const DELIVERY = [...COMMON, 'smtp-id'];

function keysOf(event: SendGridEvent): string[] {
  return Object.keys(event).sort();
}

function expectKeys(event: SendGridEvent, keys: string[]) {
  assert.deepEqual(keysOf(event), [...keys].sort(), `fields of ${event.event}`);
}

describe('event generation', () => {
  test('address patterns choose the outcome from the local part before any +', () => {
    assert.equal(outcomeFor('someone@example.com'), 'deliver');
    assert.equal(outcomeFor('bounce@example.com'), 'bounce');
    assert.equal(outcomeFor('Bounce+x@example.com'), 'bounce');
    assert.equal(outcomeFor('block+1@example.com'), 'block');
    assert.equal(outcomeFor('defer@example.com'), 'defer');
    assert.equal(outcomeFor('drop+a+b@example.com'), 'drop');
    assert.equal(outcomeFor('open@example.com'), 'open');
    assert.equal(outcomeFor('click@example.com'), 'click');
    assert.equal(outcomeFor('spam@example.com'), 'spam');
    assert.equal(outcomeFor('unsubscribe@example.com'), 'unsubscribe');
    assert.equal(outcomeFor('bouncer@example.com'), 'deliver');
    assert.equal(outcomeFor('x+bounce@example.com'), 'deliver');
  });

  test('a plain address is processed, then delivered', () => {
    const events = generate(to('guest@example.com'));
    assert.deepEqual(names(events), ['processed', 'delivered']);
    const [processed, delivered] = events.map((e) => e.event);
    expectKeys(processed!, DELIVERY);
    expectKeys(delivered!, [...DELIVERY, 'response', 'ip', 'tls']);
    assert.equal(processed!.email, 'guest@example.com');
    assert.equal(processed!.timestamp, RECEIVED_AT / 1000);
    assert.equal(delivered!.timestamp, RECEIVED_AT / 1000 + 1);
    assert.equal(delivered!.response, '250 OK');
    assert.equal(delivered!.tls, 1);
    assert.equal(processed!['smtp-id'], `<${X_MESSAGE_ID}@ismtpd-sim>`);
    assert.equal(events[1]!.at - events[0]!.at, 1000);
  });

  test('bounce: a hard bounce with status 5.1.1', () => {
    const events = generate(to('bounce+x@example.com'));
    assert.deepEqual(names(events), ['processed', 'bounce']);
    const bounce = events[1]!.event;
    expectKeys(bounce, [
      ...DELIVERY,
      'reason',
      'status',
      'type',
      'bounce_classification',
      'ip',
      'tls',
    ]);
    assert.equal(bounce.type, 'bounce');
    assert.equal(bounce.status, '5.1.1');
    assert.equal(bounce.reason, SIMULATED.bounceReason);
    assert.equal(bounce.bounce_classification, 'Invalid Address');
  });

  test('block: a bounce event of type blocked', () => {
    const events = generate(to('block@example.com'));
    assert.deepEqual(names(events), ['processed', 'bounce']);
    const block = events[1]!.event;
    expectKeys(block, [
      ...DELIVERY,
      'reason',
      'status',
      'type',
      'bounce_classification',
      'ip',
      'tls',
    ]);
    assert.equal(block.type, 'blocked');
    assert.equal(block.status, '5.7.1');
    assert.equal(block.bounce_classification, 'Reputation');
  });

  test('defer: deferred twice (attempt "1", "2"), then delivered', () => {
    const events = generate(to('defer@example.com'));
    assert.deepEqual(names(events), ['processed', 'deferred', 'deferred', 'delivered']);
    for (const [i, { event }] of events.slice(1, 3).entries()) {
      expectKeys(event, [...DELIVERY, 'response', 'attempt', 'ip']);
      assert.equal(event.attempt, String(i + 1));
      assert.equal(event.response, SIMULATED.deferredResponse);
    }
    assert.deepEqual(
      events.map((e) => e.event.timestamp),
      [0, 1, 2, 3].map((k) => RECEIVED_AT / 1000 + k),
    );
  });

  test('drop: only a dropped event, with reason and status', () => {
    const events = generate(to('drop@example.com'));
    assert.deepEqual(names(events), ['dropped']);
    expectKeys(events[0]!.event, [...DELIVERY, 'reason', 'status']);
    assert.equal(events[0]!.event.reason, 'Bounced Address');
    assert.equal(events[0]!.event.status, '5.0.0');
  });

  test('open, click, spam and unsubscribe follow delivery, with engagement fields', () => {
    const html = '<p><a href="https://shop.example/orders/42">Your order</a></p>';
    const body = {
      ...to('open@example.com', 'click@example.com', 'spam@example.com', 'unsubscribe@example.com'),
      content: [
        { type: 'text/plain', value: 'See https://shop.example/text' },
        { type: 'text/html', value: html },
      ],
    };
    const events = generate(body);
    const byEmail = (email: string) => events.filter((e) => e.event.email === email);
    assert.deepEqual(names(byEmail('open@example.com')), ['processed', 'delivered', 'open']);
    assert.deepEqual(names(byEmail('click@example.com')), ['processed', 'delivered', 'click']);
    assert.deepEqual(names(byEmail('spam@example.com')), ['processed', 'delivered', 'spamreport']);
    assert.deepEqual(names(byEmail('unsubscribe@example.com')), [
      'processed',
      'delivered',
      'unsubscribe',
    ]);
    const open = byEmail('open@example.com')[2]!.event;
    expectKeys(open, [...COMMON, 'useragent', 'ip', 'sg_machine_open']);
    assert.equal(open.sg_machine_open, false);
    const click = byEmail('click@example.com')[2]!.event;
    expectKeys(click, [...COMMON, 'useragent', 'ip', 'url', 'url_offset']);
    assert.equal(click.url, 'https://shop.example/orders/42');
    assert.deepEqual(click.url_offset, { index: 0, type: 'html' });
    expectKeys(byEmail('spam@example.com')[2]!.event, COMMON);
    expectKeys(byEmail('unsubscribe@example.com')[2]!.event, COMMON);
  });

  test('engagement: every delivered recipient also opens and clicks; tracking off means none', () => {
    const body = to('guest@example.com', 'defer@example.com', 'bounce@example.com', 'open@x.org');
    const events = generate(body, true);
    const byEmail = (email: string) => names(events.filter((e) => e.event.email === email));
    assert.deepEqual(byEmail('guest@example.com'), ['processed', 'delivered', 'open', 'click']);
    assert.deepEqual(byEmail('defer@example.com'), [
      'processed',
      'deferred',
      'deferred',
      'delivered',
      'open',
      'click',
    ]);
    assert.deepEqual(byEmail('bounce@example.com'), ['processed', 'bounce']);
    assert.deepEqual(byEmail('open@x.org'), ['processed', 'delivered', 'open', 'click']);
    const click = events.find((e) => e.event.event === 'click')!.event;
    assert.equal(click.url, SIMULATED.defaultClickUrl);

    const untracked = generate(
      {
        ...to('guest@example.com', 'open@example.com'),
        tracking_settings: { open_tracking: { enable: false }, click_tracking: { enable: false } },
      },
      true,
    );
    assert.deepEqual(names(untracked), ['processed', 'delivered', 'processed', 'delivered']);
  });

  test('custom_args are flattened, personalization values override, reserved keys win', () => {
    const events = generate({
      personalizations: [
        { to: [{ email: 'a@example.com' }], custom_args: { user_id: '7', plan: 'pro' } },
        { to: [{ email: 'b@example.com' }] },
      ],
      custom_args: { plan: 'free', tenant: 'acme', event: 'SendEmail', email: 'x@y.z' },
      categories: ['receipts', 'billing'],
    });
    const a = events.find((e) => e.event.email === 'a@example.com')!.event;
    const b = events.find((e) => e.event.email === 'b@example.com')!.event;
    assert.equal(a.user_id, '7');
    assert.equal(a.plan, 'pro');
    assert.equal(a.tenant, 'acme');
    assert.equal(a.event, 'processed');
    assert.equal(a.email, 'a@example.com');
    assert.equal(b.plan, 'free');
    assert.equal(b.user_id, undefined);
    for (const { event } of events) assert.deepEqual(event.category, ['receipts', 'billing']);
  });

  test('asm group and IP pool: asm_group_id, pool on processed, group_unsubscribe', () => {
    const events = generate({
      ...to('unsubscribe@example.com'),
      asm: { group_id: 12345 },
      ip_pool_name: 'transactional',
    });
    assert.deepEqual(names(events), ['processed', 'delivered', 'group_unsubscribe']);
    const [processed, delivered, unsubscribe] = events.map((e) => e.event);
    assert.equal(processed!.asm_group_id, 12345);
    assert.equal((processed!.pool as { name: string }).name, 'transactional');
    assert.equal(delivered!.pool, undefined);
    expectKeys(unsubscribe!, [...COMMON, 'useragent', 'ip', 'url', 'asm_group_id']);
  });

  test('every recipient (to, cc, bcc, all personalizations) gets its own sg_message_id', () => {
    const body = {
      personalizations: [
        { to: [{ email: 'a@example.com' }], cc: [{ email: 'c@example.com' }] },
        { to: [{ email: 'b@example.com' }], bcc: [{ email: 'd@example.com' }] },
      ],
    };
    const events = generateEvents(
      send(body),
      { eventDelayMs: 0, engagement: true },
      eventIdFactory(),
    );
    assert.deepEqual(
      [...new Set(events.map((e) => e.event.email))],
      ['a@example.com', 'c@example.com', 'b@example.com', 'd@example.com'],
    );
    const messageIds = new Map<unknown, Set<unknown>>();
    for (const { event } of events) {
      const id = event.sg_message_id as string;
      assert.ok(id.startsWith(`${X_MESSAGE_ID}.filterdrecv-`), id);
      assert.ok(id.endsWith('.0'), id);
      if (!messageIds.has(event.email)) messageIds.set(event.email, new Set());
      messageIds.get(event.email)!.add(id);
    }
    for (const ids of messageIds.values()) assert.equal(ids.size, 1);
    assert.equal(new Set([...messageIds.values()].map((s) => [...s][0])).size, 4);
    const eventIds = events.map((e) => e.event.sg_event_id as string);
    assert.equal(new Set(eventIds).size, eventIds.length);
    for (const id of eventIds) assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  });

  test('sandbox mode sends nothing, so emits nothing; send_at delays the events', () => {
    assert.deepEqual(
      generate({ ...to('a@example.com'), mail_settings: { sandbox_mode: { enable: true } } }),
      [],
    );
    const sendAt = RECEIVED_AT / 1000 + 3600;
    const events = generate({ ...to('a@example.com'), send_at: sendAt });
    assert.equal(events[0]!.event.timestamp, sendAt);
    assert.equal(events[0]!.at, sendAt * 1000);
  });
});

describe('signing', () => {
  test('a fixed signing key yields its known public key, base64 DER or PEM', () => {
    const fromDer = new EventWebhookEmitter({ url: null, signingKey: FIXED_PRIVATE_PKCS8 });
    const fromPem = new EventWebhookEmitter({ url: null, signingKey: FIXED_PRIVATE_PEM });
    assert.equal(fromDer.publicKeyBase64, FIXED_PUBLIC);
    assert.equal(fromPem.publicKeyBase64, FIXED_PUBLIC);
    const generated = new EventWebhookEmitter({ url: null });
    assert.notEqual(generated.publicKeyBase64, FIXED_PUBLIC);
    assert.ok(
      createPublicKey({
        key: Buffer.from(generated.publicKeyBase64, 'base64'),
        format: 'der',
        type: 'spki',
      }),
    );
  });

  test('signPayload signs timestamp + payload bytes; one changed byte fails', () => {
    const key = loadSigningKey(FIXED_PRIVATE_PKCS8);
    const payload = Buffer.from('[{"email":"a@example.com","event":"processed"}]');
    const signature = signPayload(key, '1736942400', payload);
    assert.ok(verifySignature(FIXED_PUBLIC, '1736942400', payload, signature));
    assert.ok(!verifySignature(FIXED_PUBLIC, '1736942401', payload, signature));
    const tampered = Buffer.from(payload);
    tampered[3] = (tampered[3]! + 1) % 256;
    assert.ok(!verifySignature(FIXED_PUBLIC, '1736942400', tampered, signature));
  });

  test('a key that is not EC P-256 is refused', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const rsaDer = rsa.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    assert.throws(() => loadSigningKey(rsaDer), /P-256/);
    assert.throws(() => loadSigningKey('not a key'), /private key/);
    assert.throws(() => new EventWebhookEmitter({ url: null, signingKey: FIXED_PUBLIC }));
  });
});

interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

/** A loopback receiver; `answer` picks the status for the n-th request (0-based). */
async function receiver(answer: (n: number) => number | 'hang' = () => 200) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const n = received.length;
      received.push({ headers: req.headers, raw: Buffer.concat(chunks) });
      const status = answer(n);
      if (status === 'hang') return;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Verification as a receiver would do it, from the base64 public key string only. */
function verifies(publicKeyBase64: string, { headers, raw }: Received): boolean {
  const signature = headers['x-twilio-email-event-webhook-signature'];
  const timestamp = headers['x-twilio-email-event-webhook-timestamp'];
  assert.equal(typeof signature, 'string');
  assert.equal(typeof timestamp, 'string');
  const publicKey = createPublicKey({
    key: Buffer.from(publicKeyBase64, 'base64'),
    format: 'der',
    type: 'spki',
  });
  return verify(
    'sha256',
    Buffer.from(`${timestamp}${raw.toString('utf8')}`),
    publicKey,
    Buffer.from(signature as string, 'base64'),
  );
}

function live(xMessageId: string, body: Record<string, unknown>): AcceptedSend {
  return { ...send(body, xMessageId), receivedAt: Date.now() };
}

describe('delivery to an Event Webhook endpoint', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  test('signed JSON-array batches of at most batchSize events, every event once', async () => {
    const endpoint = await receiver();
    const emitter = new EventWebhookEmitter({
      url: endpoint.url,
      signingKey: FIXED_PRIVATE_PKCS8,
      batchSize: 3,
      flushIntervalMs: 20,
      eventDelayMs: 5,
    });
    cleanups.push(
      () => emitter.close(),
      () => endpoint.close(),
    );
    emitter.accepted(live('msgA', to('a@example.com', 'defer@example.com', 'drop@example.com')));
    emitter.accepted(
      live('msgB', { ...to('b@example.com', 'click@example.com'), custom_args: { n: 'é✓' } }),
    );
    const expected = 1 + 4 + 2 + 2 + 3;

    const count = () =>
      endpoint.received.reduce((sum, r) => sum + (JSON.parse(r.raw.toString()) as []).length, 0);
    await until(() => count() >= expected && emitter.snapshot().pending === 0, 'all events');

    const posted: SendGridEvent[] = [];
    for (const request of endpoint.received) {
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers['user-agent'], 'SendGrid Event API');
      const batch = JSON.parse(request.raw.toString('utf8')) as SendGridEvent[];
      assert.ok(Array.isArray(batch) && batch.length >= 1 && batch.length <= 3, `${batch.length}`);
      posted.push(...batch);
      const timestamp = Number(request.headers['x-twilio-email-event-webhook-timestamp']);
      assert.ok(Math.abs(timestamp - Date.now() / 1000) < 60, `timestamp ${timestamp}`);
      assert.ok(verifies(FIXED_PUBLIC, request), 'signature verifies');
      const tampered = Buffer.from(request.raw);
      const at = tampered.length - 2;
      tampered[at] = tampered[at]! ^ 1;
      assert.ok(!verifies(FIXED_PUBLIC, { ...request, raw: tampered }), 'tampered body fails');
    }
    assert.equal(posted.length, expected);
    assert.ok(posted.some((event) => event.n === 'é✓'));

    const snapshot = emitter.snapshot();
    assert.equal(snapshot.emitted, expected);
    assert.deepEqual(
      posted.map((e) => e.sg_event_id).sort(),
      snapshot.events.map((e) => e.sg_event_id).sort(),
    );
    assert.equal(snapshot.deliveries.length, endpoint.received.length);
    for (const delivery of snapshot.deliveries) {
      assert.equal(delivery.delivered, true);
      assert.equal(delivery.attempts, 1);
      assert.equal(delivery.last_status, 200);
      assert.equal(delivery.next_attempt_at, null);
    }
    // A recipient's events keep their order.
    const deferEvents = snapshot.events.filter((e) => e.email === 'defer@example.com');
    assert.deepEqual(
      deferEvents.map((e) => e.event),
      ['processed', 'deferred', 'deferred', 'delivered'],
    );
  });

  test('a batch answered 500 twice is retried, re-signed, and delivered on the third try', async () => {
    const endpoint = await receiver((n) => (n < 2 ? 500 : 200));
    const emitter = new EventWebhookEmitter({
      url: endpoint.url,
      batchSize: 100,
      flushIntervalMs: 10,
      eventDelayMs: 0,
      retryBaseMs: 20,
    });
    cleanups.push(
      () => emitter.close(),
      () => endpoint.close(),
    );
    emitter.accepted(live('msgR', to('guest@example.com')));
    await until(() => emitter.snapshot().deliveries[0]?.delivered === true, 'delivery');

    assert.equal(endpoint.received.length, 3);
    const bodies = endpoint.received.map((r) => r.raw.toString('utf8'));
    assert.equal(new Set(bodies).size, 1, 'the same events each time');
    assert.equal((JSON.parse(bodies[0]!) as []).length, 2);
    for (const request of endpoint.received) assert.ok(verifies(emitter.publicKeyBase64, request));
    const signatures = endpoint.received.map(
      (r) => r.headers['x-twilio-email-event-webhook-signature'],
    );
    assert.equal(new Set(signatures).size, 3, 'signed afresh on every attempt');

    const snapshot = emitter.snapshot();
    assert.equal(snapshot.deliveries.length, 1);
    const delivery = snapshot.deliveries[0]!;
    assert.equal(delivery.attempts, 3);
    assert.equal(delivery.delivered, true);
    assert.equal(delivery.last_status, 200);
    assert.equal(delivery.last_error, null);
    assert.equal(delivery.events, 2);
    assert.ok(delivery.first_attempt_at! < delivery.last_attempt_at!);
    assert.equal(snapshot.pending, 0);
  });

  test('retries stop when the retry window is over; the batch stays undelivered', async () => {
    const endpoint = await receiver(() => 503);
    const emitter = new EventWebhookEmitter({
      url: endpoint.url,
      flushIntervalMs: 10,
      eventDelayMs: 0,
      retryBaseMs: 10,
      // Room for three attempts on a busy machine: in 100 ms, two round trips of 30 ms or more
      // (and the 10 and 20 ms waits between) left time for two attempts only.
      retryWindowMs: 1_000,
    });
    cleanups.push(
      () => emitter.close(),
      () => endpoint.close(),
    );
    emitter.accepted(live('msgG', to('guest@example.com')));
    await until(() => {
      const delivery = emitter.snapshot().deliveries[0];
      return delivery !== undefined && delivery.attempts > 0 && delivery.next_attempt_at === null;
    }, 'giving up');
    const delivery = emitter.snapshot().deliveries[0]!;
    assert.equal(delivery.delivered, false);
    assert.equal(delivery.last_status, 503);
    assert.match(delivery.last_error!, /HTTP 503; gave up after \d+ attempts/);
    assert.ok(delivery.attempts >= 3, `${delivery.attempts} attempts`);
    assert.equal(endpoint.received.length, delivery.attempts);
    assert.equal(emitter.snapshot().pending, 0);
  });

  test('with url null events are recorded only; reset drops them', async () => {
    const emitter = new EventWebhookEmitter({ url: null, eventDelayMs: 5 });
    cleanups.push(() => emitter.close());
    emitter.accepted(live('msgN', to('a@example.com', 'bounce@example.com')));
    assert.equal(emitter.snapshot().pending, 4);
    await until(() => emitter.snapshot().pending === 0, 'emission');
    const snapshot = emitter.snapshot();
    // Each recipient's events in order; the two recipients' timers may interleave on a busy machine.
    const of = (email: string) =>
      snapshot.events.filter((e) => e.email === email).map((e) => e.event);
    assert.deepEqual(of('a@example.com'), ['processed', 'delivered']);
    assert.deepEqual(of('bounce@example.com'), ['processed', 'bounce']);
    assert.equal(snapshot.events.length, 4);
    assert.deepEqual(snapshot.deliveries, []);
    emitter.accepted(live('msgM', to('later@example.com')));
    emitter.reset();
    assert.deepEqual(emitter.snapshot(), { events: [], deliveries: [], pending: 0, emitted: 0 });
  });

  test('close() aborts a post the endpoint never answers', async () => {
    const endpoint = await receiver(() => 'hang');
    const emitter = new EventWebhookEmitter({
      url: endpoint.url,
      flushIntervalMs: 5,
      eventDelayMs: 0,
    });
    cleanups.push(() => endpoint.close());
    emitter.accepted(live('msgH', to('guest@example.com')));
    await until(() => endpoint.received.length === 1, 'the post');
    const started = Date.now();
    await emitter.close();
    // At once, not when the post's own 10 s timeout gives up on it.
    const took = Date.now() - started;
    assert.ok(took < 5_000, `close() took ${took} ms`);
    emitter.accepted(live('msgI', to('after@example.com')));
    assert.equal(emitter.snapshot().events.length, 2);
  });

  test('many sends are cheap to schedule', () => {
    const emitter = new EventWebhookEmitter({ url: null, eventDelayMs: 200 });
    // CPU time, not time on the clock: a busy machine stretches the one, not the other.
    const started = process.cpuUsage();
    for (let i = 0; i < 3000; i++) {
      emitter.accepted(live(`bulk${i}`, to(`user${i}@example.com`, `cc${i}@example.com`)));
    }
    const used = process.cpuUsage(started);
    const cpuMs = (used.user + used.system) / 1000;
    assert.equal(emitter.snapshot().pending, 12_000);
    assert.ok(cpuMs < 1000, `${cpuMs} ms of CPU for 3000 sends`);
    emitter.reset();
    return emitter.close();
  });
});
