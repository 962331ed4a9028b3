import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import libmime from 'libmime';
import { simpleParser } from 'mailparser';
import { newId } from '../src/domain/ids.ts';
import type { MessageContent } from '../src/domain/types.ts';
import {
  isStandardBase64,
  type MessageInput,
  validateMessage,
} from '../src/domain/validate-message.ts';
import { renderMime } from '../src/providers/render-mime.ts';
import { toMailSendBody } from '../src/providers/sendgrid/mail-send-body.ts';
import { type RunningSimulator, startSimulator } from '../src/simulator/index.ts';
import { createMailSendValidator } from '../src/simulator/mail-send/validate.ts';
import { SqlMessageStore } from '../src/store/index.ts';
import {
  message,
  queryDatabase,
  startTestService,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/** `bytes` bytes of file content, base64-encoded as the API takes it. */
function base64Of(bytes: number): string {
  return Buffer.alloc(bytes, 0x5a).toString('base64');
}

const FOUR_MB = 4_000_000;
/** The largest attachment that fits the 10 MiB body of one message (base64 adds a third). */
const SEVEN_MIB = 7 * 1024 * 1024;

/** The check that overflowed V8's stack: kept here only to compare answers on short strings. */
const FORMER_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

describe('base64 check', () => {
  test('gives the former answer on any short string', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
    const nearBase64 = fc
      .array(fc.constantFrom(...alphabet, ' ', '\n', '-', '_', 'é'), { maxLength: 24 })
      .map((chars) => chars.join(''));
    fc.assert(
      fc.property(fc.oneof(nearBase64, fc.string({ maxLength: 24 })), (value) => {
        assert.equal(isStandardBase64(value), FORMER_BASE64.test(value), JSON.stringify(value));
      }),
      { numRuns: 5000 },
    );
  });

  test('takes 32 MiB, valid or not (the former check overflowed the stack from about 4 MiB)', () => {
    const valid = base64Of(24 * 1024 * 1024);
    assert.equal(isStandardBase64(valid), true);
    assert.equal(isStandardBase64(`${valid.slice(0, -4)}AB=A`), false);
    assert.equal(isStandardBase64(`${valid.slice(0, -1)}!`), false);
  });
});

/** Rows of every table a submission writes: a refused request must leave them all unchanged. */
async function rowCounts(url: string): Promise<Record<string, number>> {
  const tables = ['messages', 'recipients', 'message_categories', 'message_metadata'];
  const [counts] = await queryDatabase<Record<string, number>>(
    url,
    `select ${tables.map((t) => `(select count(*) from ${t}) as ${t}`).join(', ')}`,
  );
  assert.ok(counts);
  return counts;
}

interface Refusal {
  name: string;
  body: unknown;
  field: string;
}

describe('submission validation (real HTTP, real database)', () => {
  let svc: TestService;
  let db: ReturnType<typeof tempDatabase>;
  let store: SqlMessageStore;
  before(async () => {
    db = tempDatabase();
    svc = await startTestService({ TEGAMI_DATABASE_URL: db.url });
    store = new SqlMessageStore(svc.service.database);
  });
  after(async () => {
    await svc.stop();
    await db.cleanup();
  });

  /** POSTs the body and checks: 400 invalid_request, a detail for `field`, nothing stored. */
  async function expectRefused({ name, body, field }: Refusal): Promise<void> {
    const before = await rowCounts(db.url);
    const answer = await svc.request('POST', '/v1/messages', body);
    assert.equal(answer.status, 400, `${name}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    assert.equal(answer.body.error.code, 'invalid_request', name);
    const fields = (answer.body.error.details ?? []).map((d: { field: string }) => d.field);
    assert.ok(fields.includes(field), `${name}: expected ${field}, got ${JSON.stringify(fields)}`);
    assert.deepEqual(await rowCounts(db.url), before, `${name}: something was stored`);
  }

  /** A message as it could have been stored before today's rules, straight into the store. */
  async function storeUnvalidated(changes: Partial<MessageContent>): Promise<string> {
    const id = newId('msg');
    const outcome = await store.submit({
      messages: [
        {
          id,
          apiKeyId: null,
          sendAt: null,
          createdAt: Date.now(),
          content: content({
            from: { email: 'bookings@hotel.example' },
            to: [{ email: 'guest@example.com' }],
            subject: 'Stored earlier',
            text: 'Hello',
            ...changes,
          }),
        },
      ],
    });
    assert.equal(outcome.kind, 'stored');
    return id;
  }

  async function sandboxMime(id: string): Promise<string> {
    const listed = await waitFor(async () => {
      const answer = await svc.request('GET', `/v1/sandbox/messages?message_id=${id}`);
      return answer.body.data?.length > 0 ? answer.body.data : null;
    }, `the sandbox copy of ${id}`);
    return listed[0].mime as string;
  }

  describe('attachments of several MiB', () => {
    test('4 MB and 7 MiB attachments are accepted (202) and sent', async () => {
      for (const bytes of [FOUR_MB, SEVEN_MIB]) {
        const answer = await svc.request(
          'POST',
          '/v1/messages',
          message({
            attachments: [
              { filename: 'report.pdf', content: base64Of(bytes), content_type: 'application/pdf' },
            ],
          }),
        );
        assert.equal(answer.status, 202, JSON.stringify(answer.body).slice(0, 300));
        const sent = await waitFor(async () => {
          const got = await svc.request('GET', `/v1/messages/${answer.body.id}`);
          return got.body.status === 'sent' ? got.body : null;
        }, `${bytes} bytes sent`);
        assert.equal(sent.attachments[0].size, bytes);
      }
    });

    test('in a batch: both accepted, a bad one beside them refused by index', async () => {
      const attachment = (content: string) => ({
        attachments: [{ filename: 'a.pdf', content, content_type: 'application/pdf' }],
      });
      const answer = await svc.request('POST', '/v1/messages/batch', {
        messages: [
          message(attachment(base64Of(FOUR_MB))),
          message(attachment(`${base64Of(SEVEN_MIB).slice(0, -4)}!!!!`)),
          message(attachment(base64Of(SEVEN_MIB))),
        ],
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body).slice(0, 300));
      assert.equal(answer.body.accepted, 2);
      assert.equal(answer.body.rejected, 1);
      assert.equal(answer.body.results[1].error.details[0].field, 'attachments[0].content');
    });

    test('bad base64 is still a 400, however long', async () => {
      const content = base64Of(SEVEN_MIB);
      for (const [name, bad] of [
        ['a character outside the alphabet', `${content.slice(0, -4)}AB!A`],
        ['padding in the middle', `AB==${content}`],
        ['a length that is no multiple of 4', `${content}A`],
        ['a line break', `${content.slice(0, 76)}\n${content.slice(76, -1)}`],
      ] as const) {
        await expectRefused({
          name,
          body: message({
            attachments: [{ filename: 'a.pdf', content: bad, content_type: 'application/pdf' }],
          }),
          field: 'attachments[0].content',
        });
      }
    });

    test('one message in a batch is at most 10 MiB, as a message on its own', async () => {
      const answer = await svc.request('POST', '/v1/messages/batch', {
        messages: [
          message({
            attachments: [
              { filename: 'a.bin', content: base64Of(SEVEN_MIB), content_type: 'text/plain' },
              { filename: 'b.bin', content: base64Of(SEVEN_MIB), content_type: 'text/plain' },
            ],
          }),
          message(),
        ],
      });
      assert.equal(answer.status, 202);
      assert.equal(answer.body.accepted, 1);
      assert.equal(answer.body.results[0].error.details[0].field, 'attachments');
      assert.match(answer.body.results[0].error.details[0].message, /at most 10485760 \(10 MiB\)/);
    });
  });

  describe('metadata keys', () => {
    const refusals: Refusal[] = [
      ['U+2028', 'order\u2028id'],
      ['U+2029', 'order\u2029id'],
      ['LF', 'order\nid'],
      ['a control character', 'order\u001bid'],
      ['TAB', 'order\tid'],
      ['257 characters', 'k'.repeat(257)],
    ].map(([what, key]) => ({
      name: `a key with ${what}`,
      body: message({ metadata: { [key as string]: 'v' } }),
      field: `metadata.${key}`,
    }));
    for (const refusal of refusals) {
      test(`${refusal.name} → 400, nothing stored`, () => expectRefused(refusal));
    }

    test('a value that is no string is a 400 under any key, not a 500', async () => {
      for (const key of ['a\u2028b', 'a\nb', 'plain']) {
        for (const value of [5, ['x'], { x: 1 }, null]) {
          await expectRefused({
            name: `${JSON.stringify(key)}: ${JSON.stringify(value)}`,
            body: message({ metadata: { [key]: value } }),
            field: `metadata.${key}`,
          });
        }
      }
    });

    test('a header value that is no string is a 400 under any name', async () => {
      await expectRefused({
        name: 'header object under a U+2028 name',
        body: message({ headers: { 'X-A\u2028B': {} } }),
        field: 'headers.X-A\u2028B',
      });
    });

    test('keys stored before this rule are shown, not dropped', async () => {
      const metadata = { 'order\u2028id': '1', 'line\u2029two': '2', 'a\nb': '3', plain: '4' };
      const id = await storeUnvalidated({ metadata, headers: { 'X-Plain': 'p' } });
      const one = await svc.request('GET', `/v1/messages/${id}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.metadata, metadata);
      const listed = await svc.request('GET', '/v1/messages?limit=500');
      const item = listed.body.data.find((m: { id: string }) => m.id === id);
      assert.deepEqual(item.metadata, metadata);
    });
  });

  describe('reserved headers', () => {
    const reserved = [
      'x-tegami-message-id',
      'X-TEGAMI-MESSAGE-ID',
      'X-Tegami-Message-ID',
      'x-tegami-anything',
      'Resent-Bcc',
      'resent-to',
      'RESENT-FROM',
      'Resent-Message-ID',
      'Return-Path',
      'Errors-To',
      'Received',
      'Message-ID',
      'Date',
      'MIME-Version',
      'Content-ID',
      'content-description',
      'DKIM-Signature',
      'ARC-Seal',
      'Authentication-Results',
      'X-SMTPAPI',
      'Sender',
      'tO',
      'BCC',
    ];
    for (const name of reserved) {
      test(`${name} → 400, nothing stored`, () =>
        expectRefused({
          name,
          body: message({ headers: { [name]: 'victim@example.net' } }),
          field: `headers.${name}`,
        }));
    }

    test('the same header twice in two letter cases → 400', () =>
      expectRefused({
        name: 'X-Ref and x-ref',
        body: message({ headers: { 'X-Ref': 'a', 'x-ref': 'b' } }),
        field: 'headers.x-ref',
      }));

    test('ordinary headers are kept; the MIME has exactly one X-Tegami-Message-Id, ours', async () => {
      const headers = {
        'X-Booking': '12345',
        'List-Unsubscribe': '<https://hotel.example/u/1>',
        'In-Reply-To': '<a@hotel.example>',
      };
      const answer = await svc.request('POST', '/v1/messages', message({ headers }));
      assert.equal(answer.status, 202);
      const mime = await sandboxMime(answer.body.id);
      assert.deepEqual(headerLines(mime, 'x-tegami-message-id'), [
        `X-Tegami-Message-ID: ${answer.body.id}`,
      ]);
      assert.equal(headerLines(mime, 'x-booking').length, 1);
      assert.equal(headerLines(mime, 'list-unsubscribe').length, 1);
    });

    test('a forged header stored earlier reaches neither the sandbox MIME nor SendGrid', async () => {
      const forged = {
        'x-tegami-message-id': 'msg_FORGED',
        'X-TEGAMI-MESSAGE-ID': 'msg_FORGED2',
        'Resent-Bcc': 'victim@example.net',
        'resent-to': 'victim@example.net',
        'Return-Path': '<bounce@evil.example>',
        bcc: 'victim@example.net',
        'Content-Type': 'text/html',
        'X-SMTPAPI': '{"to":["victim@example.net"]}',
        'X-Kept': 'yes',
      };
      const id = await storeUnvalidated({ headers: forged });
      const mime = await sandboxMime(id);
      assert.deepEqual(headerLines(mime, 'x-tegami-message-id'), [`X-Tegami-Message-ID: ${id}`]);
      for (const name of ['resent-bcc', 'resent-to', 'return-path', 'bcc', 'x-smtpapi']) {
        assert.deepEqual(headerLines(mime, name), [], `${name} in the MIME`);
      }
      assert.ok(!mime.includes('victim@example.net'), 'the victim appears in the MIME');
      assert.equal(headerLines(mime, 'x-kept').length, 1);

      const content = (await svc.request('GET', `/v1/messages/${id}`)).body;
      const body = toMailSendBody({
        id,
        attempt: 1,
        content: {
          from: content.from,
          to: [{ email: 'guest@example.com' }],
          cc: [],
          bcc: [],
          subject: content.subject,
          text: content.text,
          headers: content.headers,
          categories: [],
          metadata: {},
          attachments: [],
        },
      });
      assert.deepEqual(body.headers, { 'X-Kept': 'yes' });
      assert.deepEqual(createMailSendValidator()(body, Date.now()), []);
    });
  });

  describe('headers written without encoding: In-Reply-To, References, OTP-Token', () => {
    for (const [name, value] of [
      ['In-Reply-To', '<réservation@hotel.example>'],
      ['references', '<a@hotel.example> <ü@hotel.example>'],
      ['OTP-Token', 'code=123456, name="Hôtel"'],
      ['OTP-TOKEN', '\u00a0'],
    ] as const) {
      test(`${name} with non-ASCII text → 400, nothing stored`, () =>
        expectRefused({
          name,
          body: message({ headers: { [name]: value } }),
          field: `headers.${name}`,
        }));
    }

    test('ASCII ones are written as given; one stored earlier with non-ASCII is left out', async () => {
      const headers = {
        'In-Reply-To': '<a@hotel.example>',
        References: '<a@hotel.example>   <b@hotel.example>',
        'OTP-Token': 'code=123456',
      };
      const answer = await svc.request('POST', '/v1/messages', message({ headers }));
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      const mime = await sandboxMime(answer.body.id);
      assert.deepEqual(headerLines(mime, 'in-reply-to'), ['In-Reply-To: <a@hotel.example>']);
      assert.deepEqual(headerLines(mime, 'references'), [
        'References: <a@hotel.example> <b@hotel.example>',
      ]);
      assert.deepEqual(headerLines(mime, 'otp-token'), ['OTP-Token: code=123456']);

      const id = await storeUnvalidated({
        headers: { 'In-Reply-To': '<é@hotel.example>', 'OTP-Token': 'ü', 'X-Kept': 'é' },
      });
      const stored = await sandboxMime(id);
      assert.deepEqual(headerLines(stored, 'in-reply-to'), []);
      assert.deepEqual(headerLines(stored, 'otp-token'), []);
      assert.deepEqual(headerLines(stored, 'x-kept'), ['X-Kept: =?UTF-8?B?w6k=?=']);
      // Every byte of the header block is ASCII.
      assert.ok(
        /^[\t\r\n\x20-\x7e]*$/.test(stored.split('\r\n\r\n')[0] ?? ''),
        stored.slice(0, 800),
      );
    });
  });

  describe('bidirectional control characters', () => {
    const bidi = [
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u202e',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
      '\u200e',
      '\u200f',
      '\u061c',
    ];
    const hex = (c: string) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    const named = (c: string) => ({ email: 'x@example.com', name: `Support${c}moc.elgoog` });
    for (const c of bidi) {
      test(`${hex(c)} in display names and filenames → 400`, async () => {
        const cases: Refusal[] = [
          { name: 'from', body: message({ from: named(c) }), field: 'from.name' },
          { name: 'to', body: message({ to: [named(c)] }), field: 'to[0].name' },
          { name: 'cc', body: message({ cc: [named(c)] }), field: 'cc[0].name' },
          { name: 'bcc', body: message({ bcc: [named(c)] }), field: 'bcc[0].name' },
          { name: 'reply_to', body: message({ reply_to: named(c) }), field: 'reply_to.name' },
          {
            name: 'filename',
            body: message({
              attachments: [
                { filename: `invoice${c}fdp.exe`, content: 'aGk=', content_type: 'text/plain' },
              ],
            }),
            field: 'attachments[0].filename',
          },
        ];
        for (const refusal of cases) await expectRefused(refusal);
      });
    }

    test('right-to-left text itself is fine', async () => {
      const answer = await svc.request(
        'POST',
        '/v1/messages',
        message({
          from: { email: 'x@example.com', name: 'فندق' },
          attachments: [{ filename: 'חשבונית.pdf', content: 'aGk=', content_type: 'text/plain' }],
        }),
      );
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
    });
  });

  describe('control characters, lengths and broken Unicode', () => {
    const refusals: Refusal[] = [
      { name: 'ESC in the subject', body: message({ subject: 'a\u001b[2Jb' }), field: 'subject' },
      { name: 'DEL in the subject', body: message({ subject: 'a\u007fb' }), field: 'subject' },
      { name: 'U+0085 in the subject', body: message({ subject: 'a\u0085b' }), field: 'subject' },
      { name: 'U+2028 in the subject', body: message({ subject: 'a\u2028b' }), field: 'subject' },
      {
        name: 'a vertical tab in a header value',
        body: message({ headers: { 'X-Ref': 'a\u000bb' } }),
        field: 'headers.X-Ref',
      },
      {
        name: 'a form feed in a display name',
        body: message({ from: { email: 'a@example.com', name: 'A\u000cB' } }),
        field: 'from.name',
      },
      {
        name: 'ESC in a filename',
        body: message({
          attachments: [{ filename: 'a\u001b.pdf', content: 'aGk=', content_type: 'text/plain' }],
        }),
        field: 'attachments[0].filename',
      },
      {
        name: 'TAB in a filename',
        body: message({
          attachments: [{ filename: 'a\t.pdf', content: 'aGk=', content_type: 'text/plain' }],
        }),
        field: 'attachments[0].filename',
      },
      {
        name: 'a header name of 257 characters',
        body: message({ headers: { [`X-${'a'.repeat(255)}`]: 'v' } }),
        field: `headers.X-${'a'.repeat(255)}`,
      },
      {
        name: 'a lone surrogate in a display name',
        body: message({ to: [{ email: 'a@example.com', name: 'A\ud800' }] }),
        field: 'to[0].name',
      },
      { name: 'a lone surrogate in the text', body: message({ text: 'a\udc00b' }), field: 'text' },
      {
        name: 'a lone surrogate in a metadata value',
        body: message({ metadata: { k: '\ud83d' } }),
        field: 'metadata.k',
      },
    ];
    for (const refusal of refusals) {
      test(`${refusal.name} → 400, nothing stored`, () => expectRefused(refusal));
    }

    test('TAB in a subject, emoji (surrogate pairs) and a 256-character header name are fine', async () => {
      const answer = await svc.request(
        'POST',
        '/v1/messages',
        message({
          subject: 'Booking\t#12 🎉',
          from: { email: 'a@example.com', name: '🏨 Hotel' },
          headers: { [`X-${'a'.repeat(254)}`]: 'v' },
          metadata: { ['k'.repeat(256)]: '🎉' },
        }),
      );
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
    });
  });
});

/** A stored message's content, as the store hands it to a provider, with these fields changed. */
function content(overrides: Partial<MessageContent> = {}): MessageContent {
  return {
    from: { email: 'a@example.com' },
    to: [{ email: 'b@example.com' }],
    cc: [],
    bcc: [],
    subject: 's',
    text: 't',
    headers: {},
    categories: [],
    metadata: {},
    attachments: [],
    ...overrides,
  };
}

/** Unfolded header lines of the message's top-level header block with this (lower-case) name. */
function headerLines(mime: string, name: string): string[] {
  const head = mime.split('\r\n\r\n')[0] ?? '';
  return head
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')
    .filter((line) => line.toLowerCase().startsWith(`${name}:`));
}

describe('rendering and the SendGrid body skip reserved headers, whatever was stored', () => {
  const stored = content({
    headers: {
      'x-tegami-message-id': 'forged',
      'X-Tegami-Message-Id': 'forged too',
      'Resent-Bcc': 'victim@example.net',
      'Content-Transfer-Encoding': '8bit',
      'X-Kept': 'yes',
    },
  });
  const outbound = { id: 'msg_01J0000000000000000000TEST', attempt: 1, content: stored };

  test('renderMime', async () => {
    const mime = (await renderMime(outbound)).toString();
    assert.deepEqual(headerLines(mime, 'x-tegami-message-id'), [
      'X-Tegami-Message-ID: msg_01J0000000000000000000TEST',
    ]);
    assert.deepEqual(headerLines(mime, 'resent-bcc'), []);
    assert.deepEqual(headerLines(mime, 'x-kept'), ['X-Kept: yes']);
  });

  test('renderMime: a file said to be multipart/* is attached as bytes, not opened as parts', async () => {
    const mime = (
      await renderMime({
        ...outbound,
        content: {
          ...stored,
          attachments: [
            { filename: 'a.txt', content: 'aGk=', content_type: 'Multipart/Alternative' },
          ],
        },
      })
    ).toString();
    assert.doesNotMatch(mime, /multipart\/alternative/i);
    assert.match(mime, /Content-Type: application\/octet-stream; name=a\.txt/);
    // Every boundary that is opened is closed, once.
    const boundaries = [...mime.matchAll(/boundary="([^"]+)"/g)].map((m) => m[1] as string);
    for (const b of boundaries) assert.equal(mime.split(`--${b}--`).length - 1, 1, b);
  });

  test('toMailSendBody', () => {
    assert.deepEqual(toMailSendBody(outbound).headers, { 'X-Kept': 'yes' });
  });
});

describe('renderMime folds no header into a line of whitespace only, nor past 998 characters', () => {
  const spaced = content({
    from: { email: 'a@example.com', name: `Hotel${' '.repeat(90)}Desk` },
    to: [{ email: 'b@example.com', name: 'Guest,\tÉ' }],
    subject: `Booking${' '.repeat(100)}#12`,
    headers: {
      'X-Trailing': `${'a'.repeat(60)}${' '.repeat(40)}`,
      'X-Run': `a${' '.repeat(100)}b`,
      'X-Tabs': `a${'\t'.repeat(100)}b\t`,
      'X-Words': 'word '.repeat(20),
      [`X-${'k'.repeat(250)}`]: 'v'.repeat(900),
      'X-Plain': 'as is',
    },
  });

  test('long runs of whitespace and long words', async () => {
    const mime = (
      await renderMime({ id: 'msg_01J0000000000000000000TEST', attempt: 1, content: spaced })
    ).toString();
    const head = (mime.split('\r\n\r\n')[0] ?? '').split('\r\n');
    for (const line of head) {
      assert.match(line, /[^ \t]/, `a line of whitespace only:\n${head.join('\n')}`);
      assert.ok(line.length <= 998, `a line of ${line.length} characters`);
    }
    // Values keep their text (trailing whitespace aside) once unfolded and decoded.
    const parsed = await simpleParser(mime);
    // mailparser leaves the fields it does not know as written (encoded words included).
    const value = (name: string) => libmime.decodeWords(String(parsed.headers.get(name)));
    assert.equal(value('x-trailing'), 'a'.repeat(60));
    assert.equal(value('x-run'), `a${' '.repeat(100)}b`);
    assert.equal(value('x-tabs'), `a${'\t'.repeat(100)}b`);
    assert.equal(value('x-words'), 'word '.repeat(20).trim());
    assert.equal(value(`x-${'k'.repeat(250)}`), 'v'.repeat(900));
    assert.deepEqual(headerLines(mime, 'x-plain'), ['X-Plain: as is']);
    assert.equal(parsed.subject, `Booking${' '.repeat(100)}#12`);
    // A display name's runs of whitespace are one space.
    assert.deepEqual(headerLines(mime, 'from'), ['From: Hotel Desk <a@example.com>']);
    assert.equal((parsed.to as { value: { name: string }[] }).value[0]?.name, 'Guest, É');
  });
});

describe('renderMime: an attachment’s headers hold no line of whitespace only', () => {
  test('a filename with long runs of spaces or tabs', async () => {
    const mime = (
      await renderMime({
        id: 'msg_01J0000000000000000000TEST',
        attempt: 1,
        content: content({
          attachments: [
            {
              filename: `a${' '.repeat(100)}b.pdf`,
              content: 'aGk=',
              content_type: 'application/pdf',
            },
            {
              filename: `${'\t'.repeat(90)}c.pdf`,
              content: 'aGk=',
              content_type: 'application/pdf',
            },
          ],
        }),
      })
    ).toString();
    for (const line of mime.split('\r\n')) {
      assert.ok(line === '' || /[^ \t]/.test(line), `a line of whitespace only:\n${mime}`);
    }
    const parsed = await simpleParser(mime);
    assert.deepEqual(
      parsed.attachments.map((a) => a.filename),
      ['a b.pdf', ' c.pdf'],
    );
  });
});

describe('renderMime: structured fields are never encoded words', () => {
  test('List-Unsubscribe keeps its URIs (one space for a run), OTP-Token its quoted spaces', async () => {
    const long = `<https://hotel.example/u?t=${'x'.repeat(1100)}>`;
    const structured = content({
      headers: {
        'List-Unsubscribe': `<mailto:u@hotel.example>,${' '.repeat(90)}<https://hotel.example/u>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'List-Archive': long.slice(0, 990),
        'OTP-Token': '"ab   cd"',
        References: `<a@x>${' '.repeat(90)}<b@x>`,
      },
    });
    const mime = (
      await renderMime({ id: 'msg_01J0000000000000000000TEST', attempt: 1, content: structured })
    ).toString();
    const head = (mime.split('\r\n\r\n')[0] ?? '').split('\r\n');
    for (const line of head)
      assert.match(line, /[^ \t]/, `a line of whitespace only:\n${head.join('\n')}`);
    assert.doesNotMatch(
      mime.split('\r\n\r\n')[0] ?? '',
      /=\?UTF-8\?/i,
      'no encoded word in a structured field',
    );
    assert.deepEqual(headerLines(mime, 'list-unsubscribe'), [
      'List-Unsubscribe: <mailto:u@hotel.example>, <https://hotel.example/u>',
    ]);
    assert.deepEqual(headerLines(mime, 'list-archive'), [`List-Archive: ${long.slice(0, 990)}`]);
    assert.deepEqual(headerLines(mime, 'otp-token'), ['OTP-Token: "ab   cd"']);
    assert.deepEqual(headerLines(mime, 'references'), ['References: <a@x> <b@x>']);
  });
});

describe('renderMime: message/* attachments are not encoded, or go out as files', () => {
  /** The part of the rendered mail that holds the attachment named m.eml: headers and body. */
  async function part(type: string, bytes: Buffer): Promise<{ head: string; body: string }> {
    const attached = content({
      attachments: [{ filename: 'm.eml', content: bytes.toString('base64'), content_type: type }],
    });
    const mime = (
      await renderMime({ id: 'msg_01J0000000000000000000TEST', attempt: 1, content: attached })
    ).toString('latin1');
    const boundary = /boundary="([^"]+)"/.exec(mime)?.[1] as string;
    const found = mime.split(`\r\n--${boundary}`).find((p) => p.includes('name=m.eml')) as string;
    const at = found.indexOf('\r\n\r\n');
    return { head: found.slice(0, at), body: found.slice(at + 4) };
  }

  test('RFC 2046 5.2: 7bit or 8bit as the bytes are; LF alone becomes CRLF', async () => {
    const plain = Buffer.from('Subject: hi\r\n\r\nbody\r\n');
    let p = await part('message/rfc822', plain);
    assert.match(p.head, /Content-Type: message\/rfc822/);
    assert.match(p.head, /Content-Transfer-Encoding: 7bit/);
    assert.equal(p.body, plain.toString('latin1'));
    p = await part('message/rfc822', Buffer.from('Subject: hi\n\nnuit à l’hôtel\n'));
    assert.match(p.head, /Content-Transfer-Encoding: 8bit/);
    assert.equal(p.body, Buffer.from('Subject: hi\r\n\r\nnuit à l’hôtel\r\n').toString('latin1'));
    p = await part('message/partial', plain);
    assert.match(p.head, /Content-Type: message\/partial/);
    assert.match(p.head, /Content-Transfer-Encoding: 7bit/);
  });

  test('bytes no 7bit or 8bit part may hold go out as a file, in base64', async () => {
    for (const [type, bytes] of [
      ['message/rfc822', Buffer.from([0x53, 0x00, 0x0d, 0x0a])], // NUL
      ['message/rfc822', Buffer.from('a\rb\r\n')], // a CR alone
      ['message/rfc822', Buffer.from(`${'a'.repeat(999)}\r\n`)], // a line over 998 bytes
      ['message/delivery-status', Buffer.from('x'.repeat(1200))],
      ['message/partial', Buffer.from('Subject: é\r\n')], // 8-bit where only 7bit is allowed
      ['message/external-body', Buffer.from('é')],
    ] as const) {
      const p = await part(type, bytes);
      assert.match(p.head, /Content-Type: application\/octet-stream; name=m\.eml/, type);
      assert.match(p.head, /Content-Transfer-Encoding: base64/, type);
      assert.deepEqual(Buffer.from(p.body.replace(/\s+/g, ''), 'base64'), bytes, type);
    }
  });

  test('the media type is read without its parameters', async () => {
    let p = await part(
      'message/partial; id="x@y"; number=1; total=2',
      Buffer.from('Subject: é\r\n'),
    );
    assert.match(p.head, /Content-Type: application\/octet-stream; name=m\.eml/);
    p = await part('message/partial; id="x@y"; number=1; total=2', Buffer.from('Subject: hi\r\n'));
    assert.match(p.head, /Content-Transfer-Encoding: 7bit/);
    p = await part('Message/Global; charset=utf-8', Buffer.from('Subject: é\n'));
    assert.match(p.head, /Content-Transfer-Encoding: base64/);
  });

  test('message/global may be encoded (RFC 6532), and is, in base64', async () => {
    const bytes = Buffer.from('Subject: é\n\0');
    const p = await part('message/global', bytes);
    assert.match(p.head, /Content-Type: message\/global/);
    assert.match(p.head, /Content-Transfer-Encoding: base64/);
    assert.deepEqual(Buffer.from(p.body.replace(/\s+/g, ''), 'base64'), bytes);
  });
});

describe('renderMime: a filename too long for one line is written in RFC 2231 continuations', () => {
  test('a file, a message/* part and one that goes out as a file keep the whole name', async () => {
    // nodemailer wrote the first as one token in Content-Type's name (the second as encoded words).
    for (const filename of [`${'n'.repeat(1_500)}.eml`, `${'n'.repeat(1_500)}"\\.eml`]) {
      for (const [type, bytes, disposition] of [
        ['application/pdf', Buffer.from('%PDF'), 'attachment'],
        ['message/rfc822', Buffer.from('Subject: hi\r\n\r\nbody\r\n'), 'inline'],
        ['message/rfc822', Buffer.from([0x53, 0x00]), 'attachment'], // NUL: goes out as a file
      ] as const) {
        const mime = (
          await renderMime({
            id: 'msg_01J0000000000000000000TEST',
            attempt: 1,
            content: content({
              attachments: [{ filename, content: bytes.toString('base64'), content_type: type }],
            }),
          })
        ).toString();
        assert.deepEqual(
          mime.split('\r\n').filter((line) => line.length > 998),
          [],
          type,
        );
        assert.match(mime, new RegExp(`^Content-Disposition: ${disposition};$`, 'm'), type);
        // Both parameters, read as mailparser reads them, are the filename (mailparser opens a
        // message/rfc822 part as a message, so the part's headers are read here).
        const param = (start: string, name: string) => {
          const line = new RegExp(`^${start}.*(?:\\r\\n[ \\t].*)*`, 'm').exec(mime)?.[0] ?? '';
          const value = line.slice(line.indexOf(':') + 1).replace(/\r\n[ \t]/g, ' ');
          return libmime.decodeWords(libmime.parseHeaderValue(value).params[name] ?? '');
        };
        const sentAs =
          disposition === 'inline'
            ? type
            : type.replace(/^message\/.*/, 'application/octet-stream');
        assert.equal(param('Content-Disposition: ', 'filename'), filename, type);
        assert.equal(param(`Content-Type: ${sentAs};`, 'name'), filename, type);
      }
    }
  });
});

describe('headers named key and value', () => {
  test('are two headers in the MIME, not one header they spell out', async () => {
    // nodemailer reads an object with `key` and `value` as one header: these made a Sender line
    // (a reserved header) and dropped the others, X-Tegami-Message-ID included.
    const headers = { key: 'Sender', value: 'ceo@bank.example', 'X-Other': 'kept' };
    const valid = validateMessage(message({ headers }) as MessageInput, Date.now());
    assert.ok(!Array.isArray(valid), JSON.stringify(valid));
    const id = 'msg_01J0000000000000000000TEST';
    const mime = (await renderMime({ id, attempt: 1, content: valid.content })).toString();
    assert.deepEqual(headerLines(mime, 'sender'), []);
    assert.deepEqual(headerLines(mime, 'key'), ['Key: Sender']);
    assert.deepEqual(headerLines(mime, 'value'), ['Value: ceo@bank.example']);
    assert.deepEqual(headerLines(mime, 'x-other'), ['X-Other: kept']);
    assert.deepEqual(headerLines(mime, 'x-tegami-message-id'), [`X-Tegami-Message-ID: ${id}`]);
  });
});

describe('the simulator takes attachments of several MiB', () => {
  let sim: RunningSimulator;
  before(async () => {
    sim = await startSimulator({ port: 0 });
  });
  after(() => sim.close());

  async function send(content: string) {
    const response = await fetch(`${sim.url}/v3/mail/send`, {
      method: 'POST',
      headers: { authorization: 'Bearer SG.test', 'content-type': 'application/json' },
      body: JSON.stringify({
        personalizations: [{ to: [{ email: 'guest@example.com' }] }],
        from: { email: 'bookings@hotel.example' },
        subject: 'Report',
        content: [{ type: 'text/plain', value: 'Attached.' }],
        attachments: [{ content, filename: 'report.pdf', type: 'application/pdf' }],
      }),
    });
    return { status: response.status, text: await response.text() };
  }

  test('a 7 MiB attachment: 202; with a bad character: 400 "must be base64 encoded"', async () => {
    const content = base64Of(SEVEN_MIB);
    assert.equal((await send(content)).status, 202);
    const bad = await send(`${content.slice(0, -4)}AB!A`);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /The attachment content must be base64 encoded\./);
  });
});
