import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import type { RunningSimulator } from '../src/simulator/index.ts';
import { SqlMessageStore } from '../src/store/index.ts';
import {
  message,
  startTestService,
  storeOneMessage,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
} from './helpers.ts';
import { postMailSend, sandboxMime, simulatorReceived } from './support/mail.ts';
import { rowCounts } from './support/row-counts.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * Rendered mail keeps every line within RFC 5322's 998 octets, whatever an accepted message
 * carries: a long filename is written in RFC 2231 continuations and read back whole, and a media
 * type or content ID, one token that no header line can fold, is refused at acceptance over 255
 * characters on every way in (`POST /v1/messages`, `POST /v3/mail/send`, SMTP).
 */

const ASCII_LONG = `${'a'.repeat(1_200)}.pdf`;
const NON_ASCII_LONG = `${'髙'.repeat(600)}.pdf`;
/** A long ASCII run with a non-ASCII character: nodemailer encodes the word, not the run. */
const MIXED_LONG = `${'b'.repeat(1_100)} é "quoted" back\\slash;semi=colon.pdf`;
const LONG_TYPE = `application/${'x'.repeat(1_200)}`;
const TYPE_AT_LIMIT = `application/${'x'.repeat(255 - 'application/'.length)}`;
const LONG_CID = `${'c'.repeat(1_200)}@hotel.example`;
const CID_AT_LIMIT = `${'c'.repeat(255 - '@hotel.example'.length)}@hotel.example`;
const FILE = Buffer.from('%PDF-1.4 booking').toString('base64');

/** The lines of a rendered mail over 998 octets (CRLF excluded). */
function longLines(mime: string): string[] {
  return mime
    .split('\r\n')
    .filter((line) => Buffer.byteLength(line) > 998)
    .map((line) => `${line.slice(0, 60)}… (${Buffer.byteLength(line)} octets)`);
}

/** The mail/send body of `attachments`, to one recipient. */
function mailSend(attachments: Record<string, unknown>[]) {
  return {
    personalizations: [{ to: [{ email: 'guest@example.com' }] }],
    from: { email: 'bookings@hotel.example' },
    subject: 'Your booking',
    content: [{ type: 'text/plain', value: 'See you soon.' }],
    attachments,
  };
}

describe(`rendered MIME lines stay within 998 octets (${TEST_ENGINE})`, () => {
  let svc: TestService;
  let port = 0;

  before(async () => {
    svc = await startTestService({ TEGAMI_SMTP_PORT: '0' });
    port = svc.service.smtp?.port ?? 0;
    assert.ok(port > 0, 'SMTP listens');
  });
  after(async () => {
    await svc.stop();
  });

  const rendered = (id: string) => sandboxMime(svc, id);

  /** Every line within 998 octets, and the filenames as a mail reader reads them. */
  async function checkRendered(id: string, filenames: string[]): Promise<void> {
    const mime = await rendered(id);
    assert.deepEqual(longLines(mime), [], `lines over 998 octets in ${id}`);
    const parsed = await simpleParser(mime);
    // Inline parts (multipart/related) come first: compared in any order.
    assert.deepEqual(parsed.attachments.map((a) => a.filename).sort(), [...filenames].sort());
  }

  const v3 = (body: unknown) => postMailSend(svc, body);

  /** The ids of the messages one `POST /v3/mail/send` made. */
  const messagesOf = async (xMessageId: string): Promise<string[]> => {
    const r = await svc.request('GET', `/v1/messages?provider_message_id=${xMessageId}`);
    return r.body.data.map((m: { id: string }) => m.id);
  };

  test('POST /v3/mail/send: filenames of 1,200 characters are rendered in continuations, read back whole', async () => {
    const filenames = [ASCII_LONG, NON_ASCII_LONG, MIXED_LONG];
    const sent = await v3(
      mailSend([
        ...filenames.map((filename) => ({ content: FILE, filename, type: 'application/pdf' })),
        { content: FILE, filename: `${'m'.repeat(1_200)}.eml`, type: 'message/global' },
      ]),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.json));
    const [id] = await messagesOf(sent.xMessageId);
    assert.ok(id, 'a message for the request');
    const stored = await svc.request('GET', `/v1/messages/${id}`);
    assert.deepEqual(
      stored.body.attachments.map((a: { filename: string }) => a.filename),
      [...filenames, `${'m'.repeat(1_200)}.eml`],
    );
    await checkRendered(id, [...filenames, `${'m'.repeat(1_200)}.eml`]);
  });

  test('POST /v3/mail/send: a type or content_id over 255 characters is a 400 naming it; nothing is stored', async () => {
    const before = await rowCounts(svc.databaseUrl);
    const type = await v3(mailSend([{ content: FILE, filename: 'a.pdf', type: LONG_TYPE }]));
    assert.equal(type.status, 400);
    assert.deepEqual(
      type.json.errors.map((e: { field: string }) => e.field),
      ['attachments.0.type'],
    );
    assert.match(type.json.errors[0].message, /longer than 255 characters/);
    const cid = await v3(
      mailSend([
        { content: FILE, filename: 'a.png', type: 'image/png', content_id: LONG_CID },
        { content: FILE, filename: 'b.pdf', type: LONG_TYPE },
      ]),
    );
    assert.equal(cid.status, 400);
    // One error each: a content_id is no longer refused as an inline attachment besides.
    assert.deepEqual(
      cid.json.errors.map((e: { field: string }) => e.field),
      ['attachments.0.content_id', 'attachments.1.type'],
      JSON.stringify(cid.json),
    );
    assert.deepEqual(await rowCounts(svc.databaseUrl), before);

    const atLimit = await v3(mailSend([{ content: FILE, filename: 'a.bin', type: TYPE_AT_LIMIT }]));
    assert.equal(atLimit.status, 202, JSON.stringify(atLimit.json));
    const [id] = await messagesOf(atLimit.xMessageId);
    await checkRendered(id ?? '', ['a.bin']);
    // The native rule's error too is named as SendGrid names the field.
    const notAType = await v3(mailSend([{ content: FILE, filename: 'a.pdf', type: 'pdf' }]));
    assert.equal(notAType.status, 400);
    assert.deepEqual(
      notAType.json.errors.map((e: { field: string }) => e.field),
      ['attachments.0.type'],
    );
  });

  test('POST /v1/messages: filenames and a type at the limit render within 998 octets; a longer type is a 400', async () => {
    const filenames = [`${'a'.repeat(251)}.pdf`, `${'髙'.repeat(251)}.pdf`];
    const sent = await svc.request(
      'POST',
      '/v1/messages',
      message({
        attachments: [
          ...filenames.map((filename) => ({
            filename,
            content: FILE,
            content_type: TYPE_AT_LIMIT,
          })),
        ],
      }),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    await checkRendered(sent.body.id, filenames);

    const before = await rowCounts(svc.databaseUrl);
    const refused = await svc.request(
      'POST',
      '/v1/messages',
      message({ attachments: [{ filename: 'a.pdf', content: FILE, content_type: LONG_TYPE }] }),
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'invalid_request');
    assert.deepEqual(
      refused.body.error.details.map((d: { field: string }) => d.field),
      ['attachments[0].content_type'],
    );
    assert.deepEqual(await rowCounts(svc.databaseUrl), before);
  });

  test('headers written as they are: a run of 997 characters renders within 998 octets; 998 is a 400 on /v1 and /v3', async () => {
    const run = 'r'.repeat(997);
    const sent = await svc.request(
      'POST',
      '/v1/messages',
      message({
        subject: 's'.repeat(998),
        headers: {
          'List-Id': `<${run.slice(2)}>`,
          References: `<${run.slice(2)}>`,
          'Feedback-ID': run,
          'X-Booking': 'x'.repeat(998),
        },
      }),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const mime = await rendered(sent.body.id);
    assert.deepEqual(longLines(mime), [], `lines over 998 octets in ${sent.body.id}`);
    const parsed = await simpleParser(mime);
    assert.equal(parsed.headers.get('feedback-id'), run);
    assert.equal(parsed.subject, 's'.repeat(998));

    const before = await rowCounts(svc.databaseUrl);
    const long = 'r'.repeat(998);
    const refused = await svc.request(
      'POST',
      '/v1/messages',
      message({ headers: { 'List-Unsubscribe': long, 'In-Reply-To': long, 'X-Free': long } }),
    );
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.error.details.map((d: { field: string }) => d.field).sort(), [
      'headers.In-Reply-To',
      'headers.List-Unsubscribe',
    ]);
    assert.match(refused.body.error.details[0].message, /without a space/);
    const v3Refused = await v3({ ...mailSend([]), headers: { 'Feedback-ID': long } });
    assert.equal(v3Refused.status, 400, JSON.stringify(v3Refused.json));
    assert.deepEqual(await rowCounts(svc.databaseUrl), before);
  });

  test('SMTP: a long filename and a Content-ID at the limit render within 998 octets; a longer type or Content-ID is a 550', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      auth: { user: 'apikey', pass: TEST_KEY },
    });
    const mail = { from: 'bookings@hotel.example', to: 'guest@example.com', subject: 'Booking' };
    const filenames = [`${'a'.repeat(251)}.pdf`, `${'髙'.repeat(251)}.pdf`];
    const info = await transport.sendMail({
      ...mail,
      html: '<img src="cid:x">',
      attachments: [
        ...filenames.map((filename) => ({
          filename,
          content: 'booking',
          contentType: 'application/pdf',
        })),
        { filename: 'logo.png', content: 'png', contentType: 'image/png', cid: CID_AT_LIMIT },
      ],
    });
    const id = /queued as (msg_\w+)/.exec(info.response)?.[1] ?? '';
    assert.ok(id, info.response);
    await checkRendered(id, [...filenames, 'logo.png']);

    const before = await rowCounts(svc.databaseUrl);
    for (const [attachment, field] of [
      [{ filename: 'a.pdf', content: 'x', contentType: LONG_TYPE }, 'attachments[0].content_type'],
      [
        { filename: ASCII_LONG, content: 'x', contentType: 'application/pdf' },
        'attachments[0].filename',
      ],
      [
        { filename: 'logo.png', content: 'png', contentType: 'image/png', cid: LONG_CID },
        'attachments[0].content_id',
      ],
    ] as const) {
      const refused = await transport
        .sendMail({ ...mail, text: 'x', attachments: [attachment] })
        .then(
          () => assert.fail('the mail was accepted'),
          (error: { responseCode?: number; response?: string }) => error,
        );
      assert.equal(refused.responseCode, 550, refused.response);
      assert.ok(refused.response?.includes(field), refused.response);
    }
    assert.deepEqual(await rowCounts(svc.databaseUrl), before);
    transport.close();
  });

  test('a message stored with a longer type than is taken now goes out as application/octet-stream', async () => {
    const id = await storeOneMessage(new SqlMessageStore(svc.service.database), Date.now(), [
      { filename: ASCII_LONG, content: FILE, content_type: LONG_TYPE },
    ]);
    await checkRendered(id, [ASCII_LONG]);
    assert.match(await rendered(id), /^Content-Type: application\/octet-stream;$/m);
  });
});

describe(`the sendgrid provider sends long filenames as accepted (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let svc: TestService;
  let simulator: RunningSimulator;
  before(async () => {
    setup = await startWithSimulator('SG.limits');
    ({ simulator, tegami: svc } = setup);
  });
  after(() => setup?.stop());

  test('/v3 forwarded and /v1 mapped: filename, type and content_id reach SendGrid unchanged; over 255, a type or content_id is a 400', async () => {
    const attachments = [
      { content: FILE, filename: ASCII_LONG, type: 'application/pdf' },
      { content: FILE, filename: 'logo.png', type: TYPE_AT_LIMIT, content_id: 'c'.repeat(255) },
    ];
    const forwarded = await fetch(`${svc.url}/v3/mail/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(mailSend(attachments)),
    });
    assert.equal(forwarded.status, 202, await forwarded.text());
    const native = await svc.request(
      'POST',
      '/v1/messages',
      message({
        attachments: [
          { filename: `${'a'.repeat(251)}.pdf`, content: FILE, content_type: TYPE_AT_LIMIT },
        ],
      }),
    );
    assert.equal(native.status, 202, JSON.stringify(native.body));
    type Sent = { body: { attachments?: Record<string, unknown>[] } };
    const received = await simulatorReceived<Sent>(simulator, 2);
    const sentAttachments = received.map((m) => m.body.attachments);
    assert.ok(
      sentAttachments.some((a) => JSON.stringify(a) === JSON.stringify(attachments)),
      'the forwarded request keeps its attachments',
    );
    assert.ok(
      sentAttachments.some(
        (a) =>
          JSON.stringify(a) ===
          JSON.stringify([
            {
              content: FILE,
              type: TYPE_AT_LIMIT,
              filename: `${'a'.repeat(251)}.pdf`,
              disposition: 'attachment',
            },
          ]),
      ),
      'the native message is sent with its filename and type',
    );

    const before = await rowCounts(svc.databaseUrl);
    const refused = await fetch(`${svc.url}/v3/mail/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(
        mailSend([
          { content: FILE, filename: 'a.pdf', type: LONG_TYPE },
          { content: FILE, filename: 'b.png', type: 'image/png', content_id: LONG_CID },
        ]),
      ),
    });
    assert.equal(refused.status, 400);
    const errors = ((await refused.json()) as { errors: { field: string }[] }).errors;
    assert.deepEqual(
      errors.map((e) => e.field),
      ['attachments.0.type', 'attachments.1.content_id'],
    );
    assert.deepEqual(await rowCounts(svc.databaseUrl), before);
  });
});
