import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import type { RunningSimulator } from '../src/simulator/index.ts';
import { migrateTo, openDatabase, SqlMessageStore } from '../src/store/index.ts';
import {
  message,
  startTestService,
  storeOneMessage,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, signInAs } from './support/browser.ts';
import { signIn } from './support/console.ts';
import { postMailSend, sandboxMime, simulatorReceived } from './support/mail.ts';
import { rowCounts } from './support/row-counts.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * Inline attachments: an image the HTML shows where it names its content ID
 * (`<img src="cid:logo@hotel.example">`), as booking confirmations embed a hotel's logo. Taken by
 * `POST /v1/messages`, SMTP and `POST /v3/mail/send`, rendered as `Content-Disposition: inline`
 * with `Content-ID: <…>` inside multipart/related, sent to SendGrid as `disposition: inline` with
 * `content_id`, and shown by the console's preview.
 */

/** A 1×1 PNG. */
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const PDF = Buffer.from('%PDF-1.4 booking').toString('base64');
const CID = 'logo@hotel.example';
const HTML = `<p>Welcome</p><img id="logo" src="cid:${CID}" alt="Hotel">`;
const LOGO = {
  filename: 'logo.png',
  content: PNG,
  content_type: 'image/png',
  content_id: CID,
  disposition: 'inline',
};
const BOOKING = { filename: 'booking.pdf', content: PDF, content_type: 'application/pdf' };
const ADMIN = { email: 'admin@hotel.example', password: 'admin-password-123' };

/** The attachments of GET /v1/messages/{id}, as an application reads them. */
const SHOWN = [
  {
    filename: 'logo.png',
    content_type: 'image/png',
    size: 70,
    disposition: 'inline',
    content_id: CID,
  },
  { filename: 'booking.pdf', content_type: 'application/pdf', size: 16, disposition: 'attachment' },
];

/** The parts of a rendered mail a mail reader sees as files: name, Content-ID, disposition. */
async function parts(mime: string) {
  const parsed = await simpleParser(mime, { skipImageLinks: true });
  return {
    html: parsed.html,
    files: parsed.attachments.map((a) => ({
      filename: a.filename,
      cid: a.cid,
      disposition: a.contentDisposition,
      related: a.related ?? false,
    })),
  };
}

const RENDERED = [
  { filename: 'logo.png', cid: CID, disposition: 'inline', related: true },
  { filename: 'booking.pdf', cid: undefined, disposition: 'attachment', related: false },
];

describe(`inline attachments with the sandbox provider (${TEST_ENGINE})`, () => {
  let svc: TestService;

  before(async () => {
    svc = await startTestService({
      TEGAMI_SMTP_PORT: '0',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
  });
  after(async () => {
    await svc.stop();
  });

  const rendered = (id: string) => sandboxMime(svc, id);

  const v3 = (body: unknown) => postMailSend(svc, body);

  test('POST /v1/messages: the logo is inline with its Content-ID, in multipart/related beside the HTML', async () => {
    const sent = await svc.request(
      'POST',
      '/v1/messages',
      message({ html: HTML, attachments: [LOGO, BOOKING] }),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const shown = await svc.request('GET', `/v1/messages/${sent.body.id}`);
    assert.deepEqual(shown.body.attachments, SHOWN);
    const mime = await rendered(sent.body.id);
    assert.match(mime, /^Content-ID: <logo@hotel\.example>$/m);
    const read = await parts(mime);
    assert.deepEqual(read.files, RENDERED);
    assert.ok(String(read.html).includes(`src="cid:${CID}"`), String(read.html));
  });

  test('POST /v1/messages: a file to open with a content_id keeps its Content-ID and stays among the attachments', async () => {
    // Not in multipart/related inside multipart/alternative, where a reader showing the text
    // part, or one hiding related parts the HTML does not name, would show no booking at all.
    const sent = await svc.request(
      'POST',
      '/v1/messages',
      message({
        html: HTML,
        attachments: [LOGO, { ...BOOKING, content_id: 'booking@hotel.example' }],
      }),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const mime = await rendered(sent.body.id);
    assert.match(mime, /^Content-ID: <booking@hotel\.example>$/m);
    assert.deepEqual((await parts(mime)).files, [
      RENDERED[0],
      {
        filename: 'booking.pdf',
        cid: 'booking@hotel.example',
        disposition: 'attachment',
        related: false,
      },
    ]);
  });

  test('POST /v1/messages: a content_id or disposition the rules refuse is a 400 naming it; nothing is stored', async () => {
    const before = await rowCounts(svc.databaseUrl);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...BOOKING, disposition: 'inline' }, 'attachments[0].content_id'],
      [{ ...LOGO, content_id: `<${CID}>` }, 'attachments[0].content_id'],
      [{ ...LOGO, content_id: 'logo\r\nBcc: someone@example.com' }, 'attachments[0].content_id'],
      [{ ...LOGO, content_id: 'hotel logo' }, 'attachments[0].content_id'],
      [{ ...LOGO, content_id: 'ロゴ@hotel.example' }, 'attachments[0].content_id'],
      [{ ...LOGO, content_id: '' }, 'attachments[0].content_id'],
      [{ ...LOGO, content_id: `${'c'.repeat(256)}` }, 'attachments[0].content_id'],
      [{ ...LOGO, disposition: 'embedded' }, 'attachments[0].disposition'],
    ];
    for (const [attachment, field] of cases) {
      const refused = await svc.request(
        'POST',
        '/v1/messages',
        message({ html: HTML, attachments: [attachment] }),
      );
      assert.equal(refused.status, 400, JSON.stringify(attachment));
      assert.equal(refused.body.error.code, 'invalid_request');
      assert.deepEqual(
        refused.body.error.details.map((d: { field: string }) => d.field),
        [field],
        JSON.stringify(refused.body),
      );
    }
    // In a batch, the one message is refused by its index and the other taken.
    const batch = await svc.request('POST', '/v1/messages/batch', {
      messages: [
        message({ html: HTML, attachments: [{ ...LOGO, content_id: undefined }] }),
        message({ html: HTML, attachments: [{ ...LOGO, content_id: 'x'.repeat(255) }] }),
      ],
    });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    assert.equal(batch.body.results[0].error.details[0].field, 'attachments[0].content_id');
    assert.equal(batch.body.results[1].status, 'queued');
    const after = await rowCounts(svc.databaseUrl);
    assert.equal(after.messages, (before.messages ?? 0) + 1, 'only the valid message is stored');
  });

  test('SMTP: an embedded image keeps its Content-ID and is inline; the HTML keeps its cid: link', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: svc.service.smtp?.port ?? 0,
      secure: false,
      auth: { user: 'apikey', pass: TEST_KEY },
    });
    const mail = {
      from: 'bookings@hotel.example',
      to: 'guest@example.com',
      subject: 'Your booking',
    };
    try {
      const info = await transport.sendMail({
        ...mail,
        html: HTML,
        attachments: [
          { filename: 'logo.png', content: PNG, encoding: 'base64', cid: CID },
          { filename: 'booking.pdf', content: PDF, encoding: 'base64' },
        ],
      });
      const id = /queued as (msg_\w+)/.exec(info.response)?.[1] ?? '';
      assert.ok(id, info.response);
      const shown = await svc.request('GET', `/v1/messages/${id}`);
      assert.deepEqual(shown.body.attachments, SHOWN);
      assert.equal(shown.body.html, HTML);
      assert.deepEqual((await parts(await rendered(id))).files, RENDERED);

      // A Content-ID the API would refuse is refused as by the API, naming the field.
      const before = await rowCounts(svc.databaseUrl);
      const refused = await transport
        .sendMail({
          ...mail,
          html: HTML,
          attachments: [{ filename: 'logo.png', content: PNG, encoding: 'base64', cid: 'a b' }],
        })
        .then(
          () => assert.fail('the mail was accepted'),
          (error: { responseCode?: number; response?: string }) => error,
        );
      assert.equal(refused.responseCode, 550, refused.response);
      assert.ok(refused.response?.includes('attachments[0].content_id'), refused.response);
      assert.deepEqual(await rowCounts(svc.databaseUrl), before);
    } finally {
      transport.close();
    }
  });

  test('POST /v3/mail/send: inline attachments are rendered for the sandbox; SendGrid’s field names', async () => {
    const request = (attachments: Record<string, unknown>[]) => ({
      personalizations: [{ to: [{ email: 'guest@example.com' }] }],
      from: { email: 'bookings@hotel.example' },
      subject: 'Your booking',
      content: [{ type: 'text/html', value: HTML }],
      attachments,
    });
    const sent = await v3(
      request([
        {
          content: PNG,
          filename: 'logo.png',
          type: 'image/png',
          disposition: 'inline',
          content_id: CID,
        },
        { content: PDF, filename: 'booking.pdf', type: 'application/pdf' },
      ]),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.json));
    const list = await svc.request('GET', `/v1/messages?provider_message_id=${sent.xMessageId}`);
    const id = list.body.data[0]?.id as string;
    assert.ok(id, JSON.stringify(list.body));
    assert.deepEqual((await svc.request('GET', `/v1/messages/${id}`)).body.attachments, SHOWN);
    assert.deepEqual((await parts(await rendered(id))).files, RENDERED);

    const before = await rowCounts(svc.databaseUrl);
    // A content_id over 255 characters: one error, its own (no refusal of inline besides).
    const long = await v3(
      request([
        {
          content: PNG,
          filename: 'logo.png',
          type: 'image/png',
          disposition: 'inline',
          content_id: 'c'.repeat(256),
        },
      ]),
    );
    assert.equal(long.status, 400);
    assert.deepEqual(
      long.json.errors.map((e: { field: string }) => e.field),
      ['attachments.0.content_id'],
      JSON.stringify(long.json),
    );
    assert.match(long.json.errors[0].message, /longer than 255 characters/);
    // Inline without a content_id: nothing would show it.
    const bare = await v3(
      request([{ content: PNG, filename: 'logo.png', type: 'image/png', disposition: 'inline' }]),
    );
    assert.equal(bare.status, 400);
    assert.deepEqual(
      bare.json.errors.map((e: { field: string }) => e.field),
      ['attachments.0.content_id'],
      JSON.stringify(bare.json),
    );
    assert.match(bare.json.errors[0].message, /required when disposition is inline/);
    assert.deepEqual(await rowCounts(svc.databaseUrl), before);
  });

  test('the console lists the logo as inline, and its preview shows it, fetching nothing', async () => {
    const sent = await svc.request(
      'POST',
      '/v1/messages',
      message({ html: HTML, attachments: [LOGO, BOOKING] }),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const id = sent.body.id as string;
    const client = await signIn(svc.url, ADMIN.email, ADMIN.password);
    const page = await client.get(`/console/messages/${id}`);
    assert.equal(page.status, 200);
    assert.match(page.text, /image\/png, 1 KiB, inline, <code>cid:logo@hotel\.example<\/code>/);
    const frame = await client.get(`/console/messages/${id}/html`);
    assert.equal(frame.status, 200);
    // The policy is the one every preview has: images from data: URLs only.
    assert.match(frame.headers.get('content-security-policy') ?? '', /img-src data:;/);
    assert.ok(
      frame.text.includes(`<img id="logo" src="data:image/png;base64,${PNG}" alt="Hotel">`),
      frame.text,
    );

    if (!HAVE_CHROMIUM) return;
    const browser = await launchBrowser();
    try {
      const tab = await browser.context.newPage();
      await signInAs(tab, svc.url, ADMIN.email, ADMIN.password);
      await tab.goto(`${svc.url}/console/messages/${id}`);
      const preview = tab.frame({ name: 'message-body' });
      assert.ok(preview, 'the HTML is in its own frame');
      await preview.waitForSelector('#logo');
      const width = await waitFor(
        () =>
          preview.$eval(
            '#logo',
            (img) => (img as unknown as { naturalWidth: number }).naturalWidth,
          ),
        'the logo to be drawn',
      );
      assert.equal(width, 1);
    } finally {
      await browser.close();
    }
  });
});

describe(`inline attachments with the sendgrid provider (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let svc: TestService;
  let simulator: RunningSimulator;
  before(async () => {
    setup = await startWithSimulator('SG.inline');
    ({ simulator, tegami: svc } = setup);
  });
  after(() => setup?.stop());

  test('SendGrid gets disposition inline with the content_id; an attachment stored before them, a plain one', async () => {
    const sent = await svc.request(
      'POST',
      '/v1/messages',
      message({ html: HTML, attachments: [LOGO, BOOKING] }),
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const stored = await storeOneMessage(new SqlMessageStore(svc.service.database), Date.now(), [
      BOOKING,
    ]);
    type Sent = { body: { attachments?: Record<string, unknown>[]; personalizations: unknown[] } };
    const received = await simulatorReceived<Sent>(simulator, 2);
    const byMessage = new Map(
      received.map((m) => [JSON.stringify(m.body.personalizations), m.body.attachments]),
    );
    const attachmentsOf = (id: string) =>
      [...byMessage.entries()].find(([personalizations]) => personalizations.includes(id))?.[1];
    // The simulator checked both against SendGrid's schema (Disposition: inline or attachment).
    assert.deepEqual(attachmentsOf(sent.body.id), [
      {
        content: PNG,
        type: 'image/png',
        filename: 'logo.png',
        disposition: 'inline',
        content_id: CID,
      },
      { content: PDF, type: 'application/pdf', filename: 'booking.pdf', disposition: 'attachment' },
    ]);
    assert.deepEqual(attachmentsOf(stored), [
      { content: PDF, type: 'application/pdf', filename: 'booking.pdf', disposition: 'attachment' },
    ]);
  });
});

describe(`an attachment stored on a database at migration 025 (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  after(() => db.cleanup());

  test('needs no migration: it reads, renders and sends as a plain attachment', async () => {
    // Attachments live in the message's content (JSON): one stored before inline attachments
    // has neither content_id nor disposition.
    const handle = openDatabase(db.url);
    let id: string;
    try {
      await migrateTo(handle.db, '025-unit-rate-windows');
      id = await storeOneMessage(new SqlMessageStore(handle), Date.now(), [BOOKING]);
    } finally {
      await handle.close();
    }
    const svc = await startTestService({ TEGAMI_DATABASE_URL: db.url });
    try {
      const mime = await waitFor(async () => {
        const r = await svc.request('GET', `/v1/sandbox/messages?message_id=${id}`);
        return (r.body.data?.[0]?.mime as string | undefined) ?? null;
      }, 'the sandbox copy');
      assert.deepEqual((await parts(mime)).files, [RENDERED[1]]);
      assert.doesNotMatch(mime, /^Content-ID:/im);
      const shown = await svc.request('GET', `/v1/messages/${id}`);
      assert.deepEqual(shown.body.attachments, [SHOWN[1]]);
    } finally {
      await svc.stop();
    }
  });
});
