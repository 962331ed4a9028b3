import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { newId } from '../src/domain/ids.ts';
import type { MessageContent } from '../src/domain/types.ts';
import { type MessageInput, validateMessage } from '../src/domain/validate-message.ts';
import { toMailSendBody } from '../src/providers/sendgrid/mail-send-body.ts';
import { type RunningSimulator, startSimulator } from '../src/simulator/index.ts';
import { RESERVED_HEADERS as SENDGRID_RESERVED_HEADERS } from '../src/simulator/mail-send/messages.ts';
import { createMailSendValidator } from '../src/simulator/mail-send/validate.ts';
import { message, startTestService, type TestService } from './helpers.ts';

/**
 * Tegami answers 202 only for mail its provider can take: whatever SendGrid (here its simulator,
 * which follows SendGrid's spec and documented rules) would refuse with 400 or 413, the API
 * refuses first, with a 400 naming the field.
 */

const sendGridRules = createMailSendValidator();

/** The message as Tegami would store it, without Tegami's own validation. */
function contentOf(input: Record<string, unknown>): MessageContent {
  const i = input as unknown as MessageInput;
  const content: MessageContent = {
    from: i.from,
    to: i.to,
    cc: i.cc ?? [],
    bcc: i.bcc ?? [],
    subject: i.subject,
    headers: i.headers ?? {},
    categories: i.categories ?? [],
    metadata: i.metadata ?? {},
    attachments: i.attachments ?? [],
  };
  if (i.reply_to) content.reply_to = i.reply_to;
  if (i.text) content.text = i.text;
  if (i.html) content.html = i.html;
  return content;
}

/** The SendGrid errors for the body Tegami's provider would send for this message. */
function simulatorErrors(input: Record<string, unknown>, passHeaders = false) {
  const content = contentOf(input);
  const body = toMailSendBody({ id: newId('msg'), attempt: 1, content });
  // The provider leaves reserved headers out (a second line of defence); to show that SendGrid
  // refuses them, they are put back as a provider without that filter would send them.
  const sent = passHeaders ? { ...body, headers: content.headers } : body;
  return sendGridRules(sent, Date.now());
}

interface Rule {
  what: string;
  input: Record<string, unknown>;
  /** The `field` of SendGrid's error. */
  sendGridField: string;
  /** The `field` of the API's error detail. */
  apiField: string;
  passHeaders?: boolean;
}

const addresses = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com` }));
const attachment = (overrides: Record<string, string>) => ({
  attachments: [{ filename: 'a.txt', content: 'aGk=', content_type: 'text/plain', ...overrides }],
});

// SendGrid's other rules cannot be broken by a message Tegami builds: one personalization, no
// empty cc/bcc lists, text/plain before text/html, custom_args never empty (the id is always
// there), no send_at (Tegami holds scheduled mail itself), no reply_to_list or template_id.
const rules: Rule[] = [
  {
    what: 'a non-ASCII category',
    input: message({ categories: ['café'] }),
    sendGridField: 'categories.0',
    apiField: 'categories[0]',
  },
  {
    what: 'a category with ESC',
    input: message({ categories: ['a\u001bb'] }),
    sendGridField: 'categories.0',
    apiField: 'categories[0]',
  },
  {
    what: 'a category with a TAB',
    input: message({ categories: ['a\tb'] }),
    sendGridField: 'categories.0',
    apiField: 'categories[0]',
  },
  {
    what: 'a category of 256 characters',
    input: message({ categories: ['c'.repeat(256)] }),
    sendGridField: 'categories.0',
    apiField: 'categories[0]',
  },
  {
    what: '11 categories',
    input: message({ categories: Array.from({ length: 11 }, (_, i) => `c${i}`) }),
    sendGridField: 'categories',
    apiField: 'categories',
  },
  {
    what: 'a repeated category',
    input: message({ categories: ['a', 'a'] }),
    sendGridField: 'categories',
    apiField: 'categories',
  },
  {
    what: 'metadata that fills custom_args past 10,000 bytes with tegami_message_id',
    input: message({ metadata: { booking: 'x'.repeat(9_960) } }),
    sendGridField: 'personalizations.0.custom_args',
    apiField: 'metadata',
  },
  {
    what: 'many metadata keys past 10,000 bytes together',
    input: message({
      metadata: Object.fromEntries(
        Array.from({ length: 100 }, (_, i) => [`key_${i}`, 'v'.repeat(90)]),
      ),
    }),
    sendGridField: 'personalizations.0.custom_args',
    apiField: 'metadata',
  },
  ...[...SENDGRID_RESERVED_HEADERS].map(
    (name): Rule => ({
      what: `the header ${name}, in other letter case`,
      input: message({ headers: { [oddCase(name)]: 'x@example.com' } }),
      sendGridField: 'headers',
      apiField: `headers.${oddCase(name)}`,
      passHeaders: true,
    }),
  ),
  {
    what: 'a header name with a space',
    input: message({ headers: { 'X Ref': '1' } }),
    sendGridField: 'headers',
    apiField: 'headers.X Ref',
  },
  {
    what: 'a header name with a non-ASCII letter',
    input: message({ headers: { 'X-Réf': '1' } }),
    sendGridField: 'headers',
    apiField: 'headers.X-Réf',
  },
  {
    what: 'a metadata value that is no string',
    input: message({ metadata: { nights: 2 } }),
    sendGridField: 'personalizations.0.custom_args',
    apiField: 'metadata.nights',
  },
  {
    what: 'a header value that is no string',
    input: message({ headers: { 'X-Nights': 2 } }),
    sendGridField: 'headers',
    apiField: 'headers.X-Nights',
  },
  {
    what: 'no to',
    input: message({ to: [], cc: [{ email: 'c@example.com' }] }),
    sendGridField: 'personalizations.0.to',
    apiField: 'to',
  },
  {
    what: '1,001 recipients',
    input: message({ to: addresses(500, 't'), cc: addresses(300, 'c'), bcc: addresses(201, 'b') }),
    sendGridField: 'personalizations',
    apiField: 'to',
  },
  {
    what: 'the same address in to and bcc',
    input: message({ bcc: [{ email: 'GUEST@example.com' }] }),
    sendGridField: 'personalizations.0',
    apiField: 'bcc[0].email',
  },
  {
    what: 'an invalid to address',
    input: message({ to: [{ email: 'guest@example' }] }),
    sendGridField: 'personalizations.0.to.0.email',
    apiField: 'to[0].email',
  },
  {
    what: 'an invalid cc address',
    input: message({ cc: [{ email: 'a..b@example.com' }] }),
    sendGridField: 'personalizations.0.cc.0.email',
    apiField: 'cc[0].email',
  },
  {
    what: 'an invalid from address',
    input: message({ from: { email: 'hotel@-example.com' } }),
    sendGridField: 'from.email',
    apiField: 'from.email',
  },
  {
    what: 'an invalid reply_to address',
    input: message({ reply_to: { email: 'desk' } }),
    sendGridField: 'reply_to.email',
    apiField: 'reply_to.email',
  },
  {
    what: 'an empty subject',
    input: message({ subject: '' }),
    sendGridField: 'subject',
    apiField: 'subject',
  },
  {
    what: 'no text and no html',
    input: message({ text: '' }),
    sendGridField: 'content',
    apiField: 'text',
  },
  {
    what: 'attachment content that is not base64',
    input: message(attachment({ content: 'aGk' })),
    sendGridField: 'attachments.0.content',
    apiField: 'attachments[0].content',
  },
  {
    what: 'empty attachment content',
    input: message(attachment({ content: '' })),
    sendGridField: 'attachments.0.content',
    apiField: 'attachments[0].content',
  },
  {
    what: 'an empty filename',
    input: message(attachment({ filename: '' })),
    sendGridField: 'attachments.0.filename',
    apiField: 'attachments[0].filename',
  },
  {
    what: 'a filename with CRLF',
    input: message(attachment({ filename: 'a\r\n.txt' })),
    sendGridField: 'attachments.0.filename',
    apiField: 'attachments[0].filename',
  },
  {
    what: 'an empty attachment type',
    input: message(attachment({ content_type: '' })),
    sendGridField: 'attachments.0.type',
    apiField: 'attachments[0].content_type',
  },
  {
    what: "an attachment type with ';'",
    input: message(attachment({ content_type: 'text/plain; charset=utf-8' })),
    sendGridField: 'attachments.0.type',
    apiField: 'attachments[0].content_type',
  },
];

function oddCase(name: string): string {
  return [...name].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c.toLowerCase())).join('');
}

describe('whatever SendGrid refuses, the API refuses first', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(() => svc.stop());

  for (const rule of rules) {
    test(rule.what, async () => {
      const errors = simulatorErrors(rule.input, rule.passHeaders);
      assert.ok(
        errors.some((e) => e.field === rule.sendGridField),
        `SendGrid should refuse this at ${rule.sendGridField}: ${JSON.stringify(errors)}`,
      );
      const answer = await svc.request('POST', '/v1/messages', rule.input);
      assert.equal(answer.status, 400, JSON.stringify(answer.body).slice(0, 300));
      const fields = answer.body.error.details.map((d: { field: string }) => d.field);
      assert.ok(fields.includes(rule.apiField), `expected ${rule.apiField}, got ${fields}`);
    });
  }

  test('metadata up to the limit: accepted by the API and by SendGrid', async () => {
    const input = message({ metadata: { booking: 'x'.repeat(9_947 - '{"booking":""}'.length) } });
    assert.deepEqual(simulatorErrors(input), []);
    const answer = await svc.request('POST', '/v1/messages', input);
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
  });

  describe('a message over 30 MB', () => {
    let sim: RunningSimulator;
    before(async () => {
      sim = await startSimulator({ port: 0 });
    });
    after(() => sim.close());

    test('SendGrid answers 413; the API refuses it in a batch (50 MiB) with a 400', async () => {
      const input = message({
        attachments: [
          {
            filename: 'scan.tiff',
            content: Buffer.alloc(24 * 1024 * 1024, 1).toString('base64'),
            content_type: 'image/tiff',
          },
        ],
      });
      const sent = await fetch(`${sim.url}/v3/mail/send`, {
        method: 'POST',
        headers: { authorization: 'Bearer SG.test', 'content-type': 'application/json' },
        body: JSON.stringify(
          toMailSendBody({ id: newId('msg'), attempt: 1, content: contentOf(input) }),
        ),
      });
      assert.equal(sent.status, 413);
      await sent.arrayBuffer();

      const answer = await svc.request('POST', '/v1/messages/batch', { messages: [input] });
      assert.equal(answer.status, 400, JSON.stringify(answer.body).slice(0, 300));
      assert.equal(answer.body.error.details[0].field, 'messages[0].attachments');
    });
  });
});

describe("the simulator's rules on custom_args and attachments, in SendGrid's words", () => {
  const mail = (overrides: Record<string, unknown>, personalization = {}) => ({
    personalizations: [{ to: [{ email: 'guest@example.com' }], ...personalization }],
    from: { email: 'bookings@hotel.example' },
    subject: 'Hello',
    content: [{ type: 'text/plain', value: 'Hi' }],
    ...overrides,
  });
  const cases: [string, unknown, string, string][] = [
    [
      'empty custom_args',
      mail({}, { custom_args: {} }),
      'personalizations.0.custom_args',
      'custom_args cannot be empty.',
    ],
    [
      'custom_args over 10,000 bytes once merged',
      mail({ custom_args: { a: 'x'.repeat(5_000) } }, { custom_args: { b: 'y'.repeat(5_000) } }),
      'personalizations.0.custom_args',
      'The combined size of both global and personalization custom arguments may not exceed 10,000 bytes per personalization.',
    ],
    [
      'a filename with LF',
      mail({ attachments: [{ content: 'aGk=', filename: 'a\nb.txt' }] }),
      'attachments.0.filename',
      'The filename of your attachment cannot contain CRLF characters.',
    ],
    [
      "a type with ';'",
      mail({ attachments: [{ content: 'aGk=', filename: 'a.txt', type: 'text/plain; a=b' }] }),
      'attachments.0.type',
      "The type cannot contain ';', or CRLF characters.",
    ],
  ];
  for (const [what, body, field, text] of cases) {
    test(what, () => {
      const errors = sendGridRules(body, Date.now());
      assert.ok(
        errors.some((e) => e.field === field && e.message === text),
        JSON.stringify(errors),
      );
    });
  }

  test('custom_args of exactly 10,000 bytes pass', () => {
    const value = 'x'.repeat(10_000 - '{"a":""}'.length);
    assert.deepEqual(sendGridRules(mail({}, { custom_args: { a: value } }), Date.now()), []);
  });
});

describe("property: every message the API accepts passes SendGrid's rules", () => {
  const validate = createMailSendValidator();
  // Mostly ordinary values, now and then one of the characters and values that have caused
  // trouble (controls, separators, bidi marks, lone surrogates, reserved names), so that a fair
  // share of messages is accepted and the property is tested on them.
  const usual = fc.constantFrom('a', 'Z', ' ', '"', ':', '\\', 'é', '日', '🎉');
  const unusual = fc.constantFrom(
    '\t',
    '\r',
    '\n',
    '\u0000',
    '\u001b',
    '\u007f',
    '\u0085',
    '\u2028',
    '\u202e',
    '\ud800',
  );
  const char = fc.oneof({ arbitrary: usual, weight: 30 }, { arbitrary: unusual, weight: 1 });
  const text = (maxLength: number) => fc.array(char, { maxLength }).map((c) => c.join(''));
  const rarely = <T>(usually: fc.Arbitrary<T>, sometimes: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: usually, weight: 12 }, { arbitrary: sometimes, weight: 1 });
  const email = rarely(
    fc.nat(1_000_000).map((n) => `guest${n}@example.com`),
    fc.constantFrom("o'brien@example.ie", 'a..b@example.com', 'x@example', 'x@-example.com'),
  );
  const address = fc.record(
    { email, name: fc.option(text(8), { nil: undefined }) },
    { requiredKeys: ['email'] },
  );
  const headerName = rarely(
    fc.constantFrom('X-Ref', 'X-Booking', 'List-Unsubscribe', 'In-Reply-To'),
    fc.oneof(
      fc.constantFrom('x-tegami-message-id', 'Resent-Bcc', 'X Ref', 'Résumé'),
      fc.constantFrom(...SENDGRID_RESERVED_HEADERS).map(oddCase),
      text(6),
    ),
  );
  const category = rarely(
    fc.constantFrom('booking', 'receipt', 'password reset', 'A-Z_0~9'),
    fc.oneof(text(6), fc.constant('c'.repeat(256))),
  );
  const metadata = rarely(
    fc.dictionary(
      rarely(fc.constantFrom('booking', 'guest', 'tegami_message_id'), text(6)),
      text(40),
      { maxKeys: 5 },
    ),
    fc.integer({ min: 9_900, max: 10_000 }).map((n) => ({ big: 'x'.repeat(n) })),
  );
  const attachment = fc.record({
    filename: rarely(fc.constant('report.pdf'), text(8)),
    content: rarely(
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')),
      fc.constantFrom('', 'aGk', 'aGk=\n', 'a===', '!!!!'),
    ),
    content_type: rarely(
      fc.constant('application/pdf'),
      fc.constantFrom('text/plain; charset=utf-8', '', 'pdf'),
    ),
  });
  const input = fc.record(
    {
      from: address,
      to: fc.array(address, { minLength: 1, maxLength: 3 }),
      cc: fc.array(address, { maxLength: 2 }),
      bcc: fc.array(address, { maxLength: 2 }),
      reply_to: address,
      subject: text(12).map((t) => `S${t}`),
      text: text(12),
      html: text(12),
      headers: fc.dictionary(headerName, text(8), { maxKeys: 3 }),
      categories: rarely(
        fc.array(category, { maxLength: 3 }),
        fc.array(category, { minLength: 11, maxLength: 11 }),
      ),
      metadata,
      attachments: fc.array(attachment, { maxLength: 2 }),
    },
    { requiredKeys: ['from', 'to', 'subject'] },
  );

  test('no accepted message makes SendGrid answer 400', () => {
    let accepted = 0;
    const runs = 3000;
    fc.assert(
      fc.property(input, (candidate) => {
        const result = validateMessage(candidate as MessageInput, Date.now());
        if (Array.isArray(result)) return;
        accepted++;
        const body = toMailSendBody({ id: newId('msg'), attempt: 1, content: result.content });
        assert.deepEqual(validate(body, Date.now()), [], JSON.stringify(candidate));
      }),
      { numRuns: runs },
    );
    // The generator must reach the accepting side often, or the property says little.
    assert.ok(accepted > runs / 10, `only ${accepted} of ${runs} generated messages were valid`);
  });
});
