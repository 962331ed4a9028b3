import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { Client } from '@sendgrid/client';
import { EventWebhook, EventWebhookHeader } from '@sendgrid/eventwebhook';
import { MailService } from '@sendgrid/mail';
import type { RunningSimulator } from '../src/simulator/index.ts';
import { sqlSendGridEventRelayStore } from '../src/store/sendgrid-compat/event-relay-store.ts';
import { TEST_ENGINE, TEST_KEY, type TestService, waitFor } from './helpers.ts';
import { startCaptureServer } from './support/capture-server.ts';
import { officialMailSendValidator } from './support/sendgrid-spec.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

// The body the official client builds from its input, to compare with what SendGrid received.
const require = createRequire(import.meta.url);
const { Mail } = require('@sendgrid/helpers').classes as {
  Mail: { create(data: unknown): { toJSON(): Record<string, unknown> } };
};

/** The official client, pointed at Tegami by its base URL and key, and nothing else. */
function officialClient(baseUrl: string, key: string): { mail: MailService; warnings: string[] } {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.join(' '));
  try {
    const client = new Client();
    client.setApiKey(key);
    // After setApiKey, which resets the base URL to SendGrid's.
    client.setDefaultRequest('baseUrl', baseUrl);
    const mail = new MailService();
    mail.setClient(client);
    return { mail, warnings };
  } finally {
    console.warn = warn;
  }
}

interface SimulatorMessage {
  x_message_id: string;
  body: { personalizations: Array<{ custom_args?: Record<string, string> }> };
}

/** What SendGrid received, without the one thing Tegami adds (its id in custom_args). */
function withoutTegamiId(body: SimulatorMessage['body']) {
  return {
    ...body,
    personalizations: body.personalizations.map((p) => {
      const { tegami_message_id: _, ...args } = p.custom_args ?? {};
      const { custom_args: __, ...rest } = p;
      return Object.keys(args).length > 0 ? { ...rest, custom_args: args } : rest;
    }),
  };
}

describe(`@sendgrid/mail against Tegami, through the sendgrid provider (${TEST_ENGINE})`, () => {
  let setup: SignedEventsSetup;
  let simulator: RunningSimulator;
  let tegami: TestService;
  let receiver: Awaited<ReturnType<typeof startCaptureServer>>;
  const validateOfficial = officialMailSendValidator();

  before(async () => {
    // The application's own Event Webhook receiver, which SendGrid used to post to.
    receiver = await startCaptureServer((_request, response, i) => {
      // The first post is refused: the relay retries it, as status webhooks are retried.
      response.writeHead(i === 0 ? 503 : 200).end();
    });
    setup = await startWithSignedEvents({
      apiKey: 'SG.upstream',
      env: {
        TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
        TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
        TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
      },
    });
    ({ simulator, tegami } = setup);
  });
  after(async () => {
    await setup.stop();
    await receiver.close();
  });

  test('a Tegami key given as SG.<key> raises no warning in the client', () => {
    assert.deepEqual(officialClient(tegami.url, `SG.${TEST_KEY}`).warnings, []);
    assert.equal(officialClient(tegami.url, TEST_KEY).warnings.length, 1);
  });

  test('six sends: forwarded as the client built them, valid by the spec, every recipient delivered', async () => {
    const relay = await tegami.request('PUT', '/v1/sendgrid/event-relay', {
      url: `${receiver.url}/sendgrid/events`,
    });
    assert.equal(relay.status, 201);
    assert.equal(relay.body.unit, 'default');
    // The URL can move; the key pair (and so the receiver's verification key) stays.
    const moved = await tegami.request('PUT', '/v1/sendgrid/event-relay', {
      url: `${receiver.url}/events`,
    });
    assert.equal(moved.status, 200);
    assert.equal(moved.body.public_key, relay.body.public_key);
    assert.equal(moved.body.url, `${receiver.url}/events`);

    const { mail } = officialClient(tegami.url, `SG.${TEST_KEY}`);
    const from = { email: 'bookings@hotel.example', name: 'Hotel' };
    const sends: Record<string, Record<string, unknown>> = {
      plain: {
        to: { email: 'guest@example.com', name: 'Guest' },
        from,
        subject: 'Your booking',
        text: 'See you soon.',
        html: '<p>See you soon.</p>',
        categories: ['booking'],
        customArgs: { booking: 'B-1' },
        replyTo: 'desk@hotel.example',
        headers: { 'X-Booking': 'B-1' },
      },
      personalizations: {
        from,
        subject: 'Hello {{name}}',
        text: 'Dear {{name}}, room {{room}}.',
        personalizations: ['ann', 'bob', 'cy'].map((name, i) => ({
          to: `${name}@example.com`,
          ...(i === 0 ? { cc: 'front@hotel.example', bcc: 'audit@hotel.example' } : {}),
          substitutions: { name, room: String(100 + i) },
          customArgs: { guest: name },
          headers: { 'X-Guest': name },
        })),
      },
      template: {
        to: 'dora@example.com',
        from,
        templateId: 'd-0123456789abcdef0123456789abcdef',
        dynamicTemplateData: { name: 'Dora', nights: 3 },
        asm: { groupId: 42 },
        trackingSettings: { clickTracking: { enable: true } },
        ipPoolName: 'transactional',
      },
      attachments: {
        to: 'eve@example.com',
        from,
        subject: 'Your invoice',
        text: 'Attached.',
        attachments: [
          {
            content: Buffer.from('%PDF-1.4 invoice').toString('base64'),
            filename: 'invoice.pdf',
            type: 'application/pdf',
            disposition: 'attachment',
          },
        ],
      },
      scheduled: {
        to: 'fay@example.com',
        from,
        subject: 'Later',
        text: 'Sent a little later.',
        sendAt: Math.floor(Date.now() / 1000) + 4,
      },
    };
    const answers: Record<string, string> = {};
    for (const [name, data] of Object.entries(sends)) {
      const [response] = await mail.send(structuredClone(data) as never);
      assert.equal(response.statusCode, 202, name);
      const id = response.headers['x-message-id'];
      assert.match(String(id), /^[A-Za-z0-9_-]{22}$/, name);
      answers[name] = String(id);
      if (name === 'scheduled') {
        const newest = await tegami.request('GET', '/v1/messages?limit=1');
        assert.equal(newest.body.data[0].sendgrid.x_message_id, id);
        assert.equal(newest.body.data[0].status, 'scheduled', 'Tegami holds it until its send_at');
        assert.equal(
          newest.body.data[0].send_at,
          new Date((data.sendAt as number) * 1000).toISOString(),
        );
      }
    }
    const [sandbox] = await mail.send({
      to: 'gil@example.com',
      from,
      subject: 'Nothing',
      text: 'Never sent.',
      mailSettings: { sandboxMode: { enable: true } },
    });
    assert.equal(sandbox.statusCode, 200);

    // Tegami's messages, one per request, each holding every recipient of every personalization.
    const list = await tegami.request('GET', '/v1/messages?limit=20');
    const byXId = new Map<string, { id: string }>(
      list.body.data.map((m: { id: string; sendgrid?: { x_message_id: string } }) => [
        m.sendgrid?.x_message_id,
        m,
      ]),
    );
    assert.equal(list.body.data.length, 5, 'the sandbox-mode request stored nothing');
    const ids = Object.fromEntries(
      Object.entries(answers).map(([name, x]) => [name, byXId.get(x)?.id as string]),
    );
    const attached = await tegami.request('GET', `/v1/messages/${ids.attachments}`);
    assert.deepEqual(attached.body.attachments, [
      {
        filename: 'invoice.pdf',
        content_type: 'application/pdf',
        size: 16,
        disposition: 'attachment',
      },
    ]);
    const personalized = await tegami.request('GET', `/v1/messages/${ids.personalizations}`);
    assert.deepEqual(
      personalized.body.recipients.map((r: { email: string; type: string }) => [r.email, r.type]),
      [
        ['ann@example.com', 'to'],
        ['bob@example.com', 'to'],
        ['cy@example.com', 'to'],
        ['front@hotel.example', 'cc'],
        ['audit@hotel.example', 'bcc'],
      ],
    );

    // SendGrid received each body as the client built it, plus Tegami's id for matching events.
    const received = await waitFor(async () => {
      const r = await fetch(`${simulator.url}/_simulator/messages`);
      const page = (await r.json()) as { messages: SimulatorMessage[] };
      return page.messages.length === 5 ? page.messages : null;
    }, 'five sends to reach SendGrid');
    for (const [name, data] of Object.entries(sends)) {
      const tegamiId = ids[name] as string;
      const body = received.find((m) =>
        m.body.personalizations.every((p) => p.custom_args?.tegami_message_id === tegamiId),
      )?.body;
      assert.ok(body, `${name} reached SendGrid with tegami_message_id in every personalization`);
      // The spec types the top-level custom_args as a string; SendGrid takes, and its own client
      // sends, an object of strings (as in personalizations): that one finding is the spec's.
      const findings = validateOfficial(body).filter((f) => f !== '/custom_args must be string');
      assert.deepEqual(findings, [], `${name} is valid by the official spec`);
      const sent = Mail.create(structuredClone({ ...data, isMultiple: false })).toJSON();
      assert.deepEqual(withoutTegamiId(body), JSON.parse(JSON.stringify(sent)), name);
    }

    // Delivery events come back (signed, through /webhooks/sendgrid): everyone delivered.
    for (const [name, id] of Object.entries(ids)) {
      await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/messages/${id}`);
        const statuses = r.body.recipients.map(
          (x: { delivery_status: string }) => x.delivery_status,
        );
        return statuses.every((s: string) => s === 'delivered') ? statuses : null;
      }, `every recipient of ${name} delivered`);
    }

    // The receiver got SendGrid's events for every recipient, in SendGrid's format, signed with
    // SendGrid's scheme: the official verifier accepts them with the unit's public key.
    const verifier = new EventWebhook();
    const publicKey = verifier.convertPublicKeyToECDSA(relay.body.public_key);
    const recipients = 5 + 1 + 1 + 1 + 1; // the personalizations one has five
    const posts = await waitFor(async () => {
      const ok = receiver.captured.slice(1);
      const events = ok.flatMap((c) => JSON.parse(c.body) as Record<string, unknown>[]);
      const delivered = events.filter((e) => e.event === 'delivered');
      return delivered.length >= recipients ? ok : null;
    }, 'every delivered event relayed');
    assert.equal(receiver.captured[0]?.url, '/events');
    for (const post of receiver.captured) {
      const signature = post.headers[EventWebhookHeader.SIGNATURE().toLowerCase()] as string;
      const timestamp = post.headers[EventWebhookHeader.TIMESTAMP().toLowerCase()] as string;
      assert.ok(verifier.verifySignature(publicKey, post.body, signature, timestamp));
      assert.equal(
        verifier.verifySignature(publicKey, `${post.body} `, signature, timestamp),
        false,
      );
      assert.match(timestamp, /^\d{10}$/, 'seconds, as SendGrid sends them');
    }
    const relayed = posts.flatMap((c) => JSON.parse(c.body) as Record<string, unknown>[]);
    const xIds = new Set(Object.values(answers));
    for (const event of relayed) {
      assert.equal(event.tegami_message_id, undefined, "Tegami's own custom arg is not relayed");
      assert.ok(
        xIds.has(String(event.sg_message_id).split('.')[0] ?? ''),
        'sg_message_id starts with the X-Message-Id the application was given',
      );
      assert.equal(Number.isInteger(event.timestamp), true);
    }
    const plain = relayed.find((e) => e.email === 'guest@example.com' && e.event === 'delivered');
    assert.equal(plain?.booking, 'B-1', "the application's own custom args are kept");
    const status = await tegami.request('GET', '/v1/sendgrid/event-relay');
    assert.equal(status.body.failed, 0);
  });
});

// docs/sendgrid-compatibility.md tells applications to drop their own sgMail.setApiKey(…) for
// this reason; if the client stops doing it, the warning there can go.
test("the client's setApiKey, called after setClient, points the mail client back at SendGrid", () => {
  const { mail } = officialClient('http://127.0.0.1:4025', `SG.${TEST_KEY}`);
  const client = (mail as unknown as { client: { defaultRequest: { baseUrl: string } } }).client;
  assert.equal(client.defaultRequest.baseUrl, 'http://127.0.0.1:4025');
  const warn = console.warn;
  console.warn = () => {};
  try {
    mail.setApiKey(`SG.${TEST_KEY}`);
  } finally {
    console.warn = warn;
  }
  assert.match(client.defaultRequest.baseUrl, /^https:\/\/api\.sendgrid\.com/);
});

describe(`a forwarded request with a suppressed recipient (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let simulator: RunningSimulator;
  let tegami: TestService;
  before(async () => {
    setup = await startWithSimulator('SG.upstream');
    ({ simulator, tegami } = setup);
  });
  after(() => setup?.stop());

  test('the address is left out of every personalization; a personalization left empty is dropped', async () => {
    for (const email of ['gone@example.com', 'also-gone@example.com']) {
      const added = await tegami.request('POST', '/v1/suppressions', { email });
      assert.equal(added.status, 201);
    }
    const { mail } = officialClient(tegami.url, `SG.${TEST_KEY}`);
    const [response] = await mail.send({
      from: 'bookings@hotel.example',
      subject: 'Hello',
      text: 'Hello',
      personalizations: [
        { to: ['gone@example.com', 'kept@example.com'] },
        { to: 'also-gone@example.com', cc: 'desk@hotel.example' },
        { to: 'gone@example.com' },
      ],
    } as never);
    assert.equal(response.statusCode, 202);
    const xMessageId = String(response.headers['x-message-id']);
    const list = await tegami.request('GET', '/v1/messages?limit=1');
    const id = list.body.data[0].id;
    assert.equal(list.body.data[0].sendgrid.x_message_id, xMessageId);
    const sent = await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/messages/${id}`);
      return r.body.status === 'sent' ? r.body : null;
    }, 'the message to be sent');
    assert.deepEqual(
      sent.recipients.map((r: { email: string; status: string }) => [r.email, r.status]),
      [
        ['gone@example.com', 'suppressed'],
        ['kept@example.com', 'sent'],
        ['also-gone@example.com', 'suppressed'],
        ['gone@example.com', 'suppressed'],
        ['desk@hotel.example', 'sent'],
      ],
    );
    const r = await fetch(`${simulator.url}/_simulator/messages`);
    const [received] = ((await r.json()) as { messages: SimulatorMessage[] }).messages;
    assert.ok(received);
    assert.deepEqual(
      (received.body.personalizations as Array<Record<string, unknown>>).map((p) => ({
        to: p.to,
        cc: p.cc,
      })),
      [
        { to: [{ email: 'kept@example.com' }], cc: undefined },
        // Its only `to` is suppressed: the cc becomes the to, as for native mail.
        { to: [{ email: 'desk@hotel.example' }], cc: undefined },
      ],
    );
  });
});

describe(`the event relay gives up after the retry window (${TEST_ENGINE})`, () => {
  let setup: SignedEventsSetup;
  let tegami: TestService;
  let receiver: Awaited<ReturnType<typeof startCaptureServer>>;
  before(async () => {
    receiver = await startCaptureServer((_request, response) => {
      response.writeHead(500).end('down');
    });
    setup = await startWithSignedEvents({
      env: {
        TEGAMI_SENDGRID_API_KEY: 'SG.upstream',
        TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
        TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
        TEGAMI_WEBHOOKS_RETRY_WINDOW_S: '1',
        TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
      },
    });
    ({ tegami } = setup);
  });
  after(async () => {
    await setup.stop();
    await receiver.close();
  });

  test('a receiver that keeps failing: retried, then failed, and pruned with old messages', async () => {
    await tegami.request('PUT', '/v1/sendgrid/event-relay', { url: receiver.url });
    const { mail } = officialClient(tegami.url, `SG.${TEST_KEY}`);
    const [response] = await mail.send({
      to: 'guest@example.com',
      from: 'bookings@hotel.example',
      subject: 'Hi',
      text: 'Hello',
    });
    assert.equal(response.statusCode, 202);
    const relay = await waitFor(async () => {
      const r = await tegami.request('GET', '/v1/sendgrid/event-relay');
      return r.body.failed === 2 && r.body.pending === 0 ? r.body : null;
    }, 'processed and delivered to be given up');
    assert.equal(relay.failed, 2);
    assert.ok(receiver.captured.length >= 2, 'posted more than once before giving up');
    const store = sqlSendGridEventRelayStore(tegami.service.database);
    assert.equal(await store.pruneFailed(Date.now() - 60_000, 100), 0, 'recent: kept');
    assert.equal(await store.pruneFailed(Date.now() + 1, 100), 2);
    const after = await tegami.request('GET', '/v1/sendgrid/event-relay');
    assert.equal(after.body.failed, 0);
  });
});
