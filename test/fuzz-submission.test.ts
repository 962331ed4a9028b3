import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { ERROR_CODES } from '../src/http/errors.ts';
import { message, startTestService, type TestService, tempDatabase, waitFor } from './helpers.ts';
import { fuzzRuns } from './support/fuzz.ts';
import { rowCounts } from './support/row-counts.ts';

/**
 * Property-based tests of POST /v1/messages and /v1/messages/batch with arbitrary and hostile
 * JSON: the server never answers 5xx, a refused request changes no table, and no field, however
 * it is spelled, adds a header line to the mail. Runs per property: TEGAMI_TEST_FUZZ_RUNS.
 */

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Sequences that would start a new header line, or confuse a parser, if they got through. */
const BREAKS = ['\r\n', '\n', '\r', '\0', '\r\n ', '\u2028', '\u0085', '\v', '\f', '\r\r\n'];
const INJECTIONS = [
  '\r\nBcc: victim@example.net',
  '\nX-Injected: yes',
  '\r\nX-Injected: yes\r\n\r\nbody',
  '\rX-Injected: yes',
];

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));

const hostileString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: codeUnit, maxLength: 12 }),
  fc
    .tuple(
      fc.string({ maxLength: 8 }),
      fc.constantFrom(...BREAKS, ...INJECTIONS),
      fc.string({ maxLength: 8 }),
    )
    .map(([a, b, c]) => `${a}${b}${c}`),
  fc.constantFrom('', ' ', '=?UTF-8?B?QmNjOiB2QHguY28=?=', 'a: b', '"quoted" <x@y.co>', '\uFEFF'),
  // Long text that does not compress: PostgreSQL refuses an index entry over ~2.7 kB.
  fc
    .uint8Array({ minLength: 1_500, maxLength: 3_000 })
    .map((bytes) => Buffer.from(bytes).toString('hex')),
);

const email = fc.oneof(
  { weight: 4, arbitrary: fc.emailAddress() },
  { weight: 1, arbitrary: hostileString },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.emailAddress(), fc.constantFrom(...INJECTIONS))
      .map(([e, injection]) => `${e}${injection}`),
  },
);

const address = fc.record(
  { email, name: hostileString },
  { requiredKeys: ['email'] },
) as fc.Arbitrary<Record<string, unknown>>;

const headerName = fc.oneof(
  fc.stringMatching(/^X-[A-Za-z0-9-]{1,12}$/),
  fc.constantFrom('Bcc', 'bcc', 'Content-Type', 'X-A: b', 'X A', '', '__proto__', 'constructor'),
  hostileString,
);

const stringMap = (key: fc.Arbitrary<string>) =>
  fc.dictionary(key, hostileString, { maxKeys: 4, noNullPrototype: true });

const attachment = fc.record(
  {
    filename: hostileString,
    content: fc.oneof(fc.constant('aGVsbG8='), fc.base64String({ maxLength: 12 }), hostileString),
    content_type: fc.oneof(fc.constant('text/plain'), hostileString),
  },
  { requiredKeys: [] },
);

/** A message whose every field may be hostile, missing, or replaced by any JSON value. */
const messageInput: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      from: address,
      to: fc.array(address, { maxLength: 3 }),
      cc: fc.array(address, { maxLength: 2 }),
      bcc: fc.array(address, { maxLength: 2 }),
      reply_to: address,
      subject: hostileString,
      text: hostileString,
      html: hostileString,
      headers: stringMap(headerName),
      categories: fc.array(hostileString, { maxLength: 3 }),
      metadata: stringMap(hostileString),
      attachments: fc.array(attachment, { maxLength: 2 }),
      send_at: fc.oneof(
        fc.constantFrom('2020-01-01T00:00:00Z', '2999-01-01T00:00:00Z', 'tomorrow'),
        hostileString,
      ),
    },
    { requiredKeys: [] },
  )
  .chain((base) =>
    fc
      .tuple(
        fc.option(
          fc.tuple(
            fc.constantFrom(...Object.keys(message()), 'headers', 'metadata', 'priority'),
            fc.jsonValue({ maxDepth: 3 }),
          ),
        ),
        fc.boolean(),
      )
      .map(([replacement, startFromValid]) => {
        const body: Record<string, unknown> = startFromValid ? { ...message(), ...base } : base;
        if (replacement) body[replacement[0]] = replacement[1];
        return body;
      }),
  );

/** Request bodies as sent: JSON of the above, any JSON at all, or text that is not JSON. */
const nesting = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([depth, open]) =>
    open === '['
      ? `${'['.repeat(depth)}${']'.repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
  );
const prototypeKeys = fc
  .tuple(fc.constantFrom('"__proto__"', '"\\u005f_proto__"', '"constructor"'), messageInput)
  .map(([key, body]) => `{${key}:{"prototype":{"admin":true}},${JSON.stringify(body).slice(1)}`);
/** JSON texts that parse to something other than they seem, or barely parse at all. */
const trickyText = fc.oneof(
  messageInput.map((m) => `\uFEFF${JSON.stringify(m)}`),
  messageInput.map((m) => `{"subject":"first",${JSON.stringify(m).slice(1)}`), // duplicate keys
  messageInput.map((m) => `{"text":1e400,${JSON.stringify(m).slice(1)}`),
  messageInput.map((m) => ` \t\r\n${JSON.stringify(m, null, 2)}\n `),
  fc.constantFrom('1e400', 'NaN', '-0', '"\\ud800"', '{"a":1}}', '{"a":1', '\u0000', '[]', '{}'),
);
const messageText = fc.oneof(
  { weight: 6, arbitrary: messageInput.map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: trickyText },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: codeUnit, maxLength: 30 }) },
  { weight: 1, arbitrary: nesting },
  { weight: 1, arbitrary: prototypeKeys },
);
const batchText = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(fc.oneof(messageInput, fc.jsonValue({ maxDepth: 3 })), { maxLength: 5 })
      .map((messages) => JSON.stringify({ messages })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(messageText, { minLength: 1, maxLength: 3 })
      .map((texts) => `{"messages":[${texts.join(',')}]}`),
  },
  { weight: 1, arbitrary: messageText },
);

/** Content types a client might send with JSON, most of them as it should. */
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'Application/JSON',
      'application/json, text/plain',
      'application/jsonx',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ),
  },
);

/** Header values fetch can send: printable ASCII with spaces, valid or not as a key. */
const idempotencyKey = fc.option(
  fc.oneof(
    fc.stringMatching(/^[\x21-\x7e]{1,16}$/),
    fc.string({ minLength: 1, maxLength: 300 }).map((s) => s.trim() || 'x'),
  ),
  { freq: 2 },
);

// ---------------------------------------------------------------------------------------------
// Checks

interface Sent {
  status: number;
  body: unknown;
  headers: Headers;
}

function checkErrorShape(response: Sent, what: string): void {
  const body = response.body as { error?: { code?: unknown; message?: unknown } };
  assert.ok(body?.error, `${what}: an error body, got ${JSON.stringify(body).slice(0, 300)}`);
  const code = body.error.code as keyof typeof ERROR_CODES;
  assert.ok(code in ERROR_CODES, `${what}: a documented code, got ${String(code)}`);
  assert.equal(ERROR_CODES[code].status, response.status, `${what}: ${code} has its own status`);
  assert.equal(typeof body.error.message, 'string');
}

/**
 * The header block of a rendered message: names in order, whether every break is CRLF, and the
 * lines that break RFC 5322: a continuation line of whitespace only (obsolete syntax, section
 * 4.2) or a line over 998 characters.
 */
function headerBlock(mime: string): { names: string[]; bareBreak: boolean; badLines: string[] } {
  const end = mime.indexOf('\r\n\r\n');
  const block = end === -1 ? mime : mime.slice(0, end);
  const lines = block.split('\r\n');
  const bareBreak = lines.some((line) => /[\r\n]/.test(line));
  const badLines = lines.filter((line) => !/[^ \t]/.test(line) || line.length > 998);
  const names = lines
    .filter((line) => !/^[ \t]/.test(line)) // continuation lines of a folded header
    .map((line) => line.slice(0, Math.max(line.indexOf(':'), 0)));
  return { names, bareBreak, badLines };
}

const GENERATED_HEADERS = new Set(
  [
    'from',
    'to',
    'cc',
    'reply-to',
    'subject',
    'message-id',
    'date',
    'mime-version',
    'content-type',
    'content-transfer-encoding',
    'x-tegami-message-id',
  ].map((h) => h.toLowerCase()),
);

function hasLineBreak(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string' && /[\r\n]/.test(item)) return true;
    if (item && typeof item === 'object')
      pending.push(...Object.keys(item), ...Object.values(item));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

describe('property: hostile submissions never get a 5xx, and a refusal changes nothing', () => {
  let svc: TestService;
  let db: ReturnType<typeof tempDatabase>;
  let keys = 0;
  before(async () => {
    db = tempDatabase();
    // No worker, so the only writes are the ones the requests make.
    svc = await startTestService({ TEGAMI_DATABASE_URL: db.url, TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(async () => {
    await svc.stop();
    await db.cleanup();
  });

  for (const [path, bodies] of [
    ['/v1/messages', messageText],
    ['/v1/messages/batch', batchText],
  ] as const) {
    test(`POST ${path}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          bodies,
          idempotencyKey,
          fc.boolean(),
          contentType,
          async (text, key, reuseKey, type) => {
            const headers: Record<string, string> = { 'content-type': type };
            // A fresh key most of the time; sometimes one used before, to reach replays and 409s.
            if (key !== null) headers['idempotency-key'] = reuseKey ? key : `${key}-${++keys}`;
            const before = await rowCounts(db.url);
            const response = await svc.request('POST', path, text, headers);
            const what = `POST ${path} (${type}) ${text.slice(0, 200)}`;
            assert.ok(response.status < 500, `${what}: ${response.status}`);
            if (response.status >= 400) {
              checkErrorShape(response, what);
              assert.deepEqual(
                await rowCounts(db.url),
                before,
                `${what}: a refusal stored nothing`,
              );
            } else {
              assert.equal(response.status, 202, what);
            }
          },
        ),
        { numRuns: fuzzRuns(30) },
      );
    });
  }
});

describe('property: no field adds a header line to the mail or the stored message', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(() => svc.stop());

  /** Mostly valid messages, with hostile text in the fields that end up in headers. */
  /** Text with a run of spaces or tabs, up to past the 76-character fold, or at its end. */
  const whitespaceRun = fc
    .tuple(
      fc.string({ unit: 'grapheme', maxLength: 70 }),
      fc.constantFrom(' ', '\t', ' \t'),
      fc.integer({ min: 1, max: 120 }),
      fc.string({ unit: 'grapheme', maxLength: 10 }),
    )
    .map(([before, space, n, after]) => `x${before}${space.repeat(n)}${after}`);
  /** Usually printable text (any script, emoji, quotes, colons), sometimes hostile. */
  const mostlyPrintable = (minLength = 0) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength: 20 }) },
      { weight: 1, arbitrary: whitespaceRun },
      { weight: 1, arbitrary: hostileString },
    );
  const headerBound = fc
    .record(
      {
        subject: mostlyPrintable(1),
        fromName: mostlyPrintable(),
        toName: mostlyPrintable(),
        replyToName: mostlyPrintable(),
        headerValue: mostlyPrintable(),
        headerName: fc.oneof(
          { weight: 3, arbitrary: fc.stringMatching(/^X-[A-Za-z0-9-]{1,12}$/) },
          { weight: 1, arbitrary: headerName },
        ),
        // Categories never reach a header; they are printable ASCII or refused (SendGrid's rule),
        // so mostly such text. Any script here got most messages refused: in some runs none was
        // accepted and the MIME checks below checked nothing.
        category: fc.oneof(
          { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 20 }) },
          { weight: 1, arbitrary: hostileString },
        ),
        metadataValue: hostileString,
        filename: mostlyPrintable(1),
        email: fc.oneof(
          { weight: 3, arbitrary: fc.constant('guest@example.com') },
          { weight: 1, arbitrary: email },
        ),
      },
      { requiredKeys: [] },
    )
    .map((f) =>
      message({
        ...(f.subject !== undefined ? { subject: f.subject } : {}),
        from: { email: 'bookings@hotel.example', ...(f.fromName ? { name: f.fromName } : {}) },
        to: [{ email: f.email ?? 'guest@example.com', ...(f.toName ? { name: f.toName } : {}) }],
        ...(f.replyToName !== undefined
          ? { reply_to: { email: 'desk@hotel.example', name: f.replyToName } }
          : {}),
        ...(f.headerName !== undefined
          ? { headers: { [f.headerName]: f.headerValue ?? 'v' } }
          : {}),
        ...(f.category !== undefined ? { categories: [f.category] } : {}),
        ...(f.metadataValue !== undefined ? { metadata: { ref: f.metadataValue } } : {}),
        ...(f.filename !== undefined
          ? {
              attachments: [{ filename: f.filename, content: 'aGk=', content_type: 'text/plain' }],
            }
          : {}),
      }),
    );

  test('single messages and batches: rendered MIME and stored headers', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(headerBound, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (inputs, asBatch) => {
          const response = asBatch
            ? await svc.request('POST', '/v1/messages/batch', { messages: inputs })
            : await svc.request('POST', '/v1/messages', inputs[0]);
          assert.ok(response.status < 500, `${response.status} ${JSON.stringify(inputs)}`);
          if (response.status >= 400) {
            checkErrorShape(response, JSON.stringify(inputs));
            return;
          }
          const body = response.body as {
            id?: string;
            results?: { index: number; id?: string }[];
          };
          const ids: [string, Record<string, unknown>][] = asBatch
            ? (body.results ?? [])
                .filter((r) => r.id)
                .map((r) => [r.id as string, inputs[r.index] as Record<string, unknown>])
            : [[body.id as string, inputs[0] as Record<string, unknown>]];
          for (const [id, input] of ids) {
            accepted++;
            // Tegami refuses CR and LF in every field that reaches a header (metadata values and
            // bodies may hold them: they are never written into a header).
            const { metadata: _metadata, text: _text, html: _html, ...headerFields } = input;
            assert.ok(
              !hasLineBreak(headerFields),
              `accepted a line break: ${JSON.stringify(input)}`,
            );
            const stored = await svc.request('GET', `/v1/messages/${id}`);
            assert.deepEqual(stored.body.headers, input.headers ?? {});
            assert.ok(!hasLineBreak(stored.body.headers), JSON.stringify(stored.body.headers));
            assert.equal(stored.body.subject, input.subject);
            const mime = await waitFor(async () => {
              const r = await svc.request('GET', `/v1/sandbox/messages?message_id=${id}`);
              return (r.body.data?.[0]?.mime as string | undefined) ?? null;
            }, `the sandbox copy of ${id}`);
            const { names, bareBreak, badLines } = headerBlock(mime);
            assert.ok(!bareBreak, `a bare CR or LF in the header block:\n${mime.slice(0, 2000)}`);
            assert.deepEqual(
              badLines,
              [],
              `a header line of whitespace only or over 998 characters:\n${mime.slice(0, 2000)}`,
            );
            const custom = new Set(Object.keys(input.headers ?? {}).map((h) => h.toLowerCase()));
            for (const name of names) {
              assert.ok(
                GENERATED_HEADERS.has(name.toLowerCase()) || custom.has(name.toLowerCase()),
                `unexpected header line "${name}" for ${JSON.stringify(input)}:\n${mime.slice(0, 2000)}`,
              );
            }
            assert.equal(
              names.filter((n) => n.toLowerCase() === 'subject').length,
              1,
              'one Subject line',
            );
            assert.ok(!/^bcc:/im.test(mime.slice(0, mime.indexOf('\r\n\r\n'))), 'no Bcc line');
          }
        },
      ),
      { numRuns: fuzzRuns(30) },
    );
    // The generator must reach the accepting path, or the MIME checks above check nothing.
    assert.ok(accepted > 0, 'no message was accepted');
  });

  /**
   * Filenames of up to thousands of characters (SendGrid's spec sets no limit), long runs without
   * spaces among quotes, semicolons and non-ASCII text, and media types around the 255 allowed.
   */
  const filenamePiece = fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 1_500 }).map((n) => 'a'.repeat(n)) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        ' ',
        '  ',
        '"',
        '\\',
        ';',
        "'",
        '*',
        '%20',
        '=',
        '(',
        '<',
        '@',
        ':',
        '/',
      ),
    },
    { weight: 2, arbitrary: fc.constantFrom('髙', 'é', '😀', 'ﷺ') },
    // Printable ASCII, without the `?` of an encoded word (which a reader would decode).
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((t) => t.replace(/\?/g, '_')) },
  );
  const longAttachment = fc.record({
    filename: fc.array(filenamePiece, { maxLength: 6 }).map((pieces) => `f${pieces.join('')}.bin`),
    type: fc.oneof(
      fc.constantFrom('application/pdf', 'text/plain', 'image/png', 'message/global'),
      fc.integer({ min: 250, max: 260 }).map((n) => `application/${'x'.repeat(n - 12)}`),
    ),
  });

  test('POST /v3/mail/send: filenames of any length render in lines within 998 octets and read back whole', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(longAttachment, { minLength: 1, maxLength: 3 }), async (files) => {
        const body = {
          personalizations: [{ to: [{ email: 'guest@example.com' }] }],
          from: { email: 'bookings@hotel.example' },
          subject: 'Your booking',
          content: [{ type: 'text/plain', value: 'See you soon.' }],
          attachments: files.map((f) => ({ content: 'aGk=', filename: f.filename, type: f.type })),
        };
        const response = await svc.request('POST', '/v3/mail/send', body);
        const what = JSON.stringify(files).slice(0, 300);
        assert.ok(response.status === 202 || response.status === 400, `${response.status} ${what}`);
        if (response.status === 400) {
          assert.ok(Array.isArray(response.body.errors), what);
          // Only a type over 255 characters is refused; every filename drawn is valid.
          assert.ok(
            files.some((f) => f.type.length > 255),
            `refused ${what}: ${JSON.stringify(response.body).slice(0, 300)}`,
          );
          return;
        }
        accepted++;
        const xMessageId = response.headers.get('x-message-id') ?? '';
        const listed = await svc.request('GET', `/v1/messages?provider_message_id=${xMessageId}`);
        const id = listed.body.data[0]?.id as string;
        const mime = await waitFor(async () => {
          const r = await svc.request('GET', `/v1/sandbox/messages?message_id=${id}`);
          return (r.body.data?.[0]?.mime as string | undefined) ?? null;
        }, `the sandbox copy of ${id}`);
        const long = mime.split('\r\n').filter((line) => Buffer.byteLength(line) > 998);
        assert.deepEqual(long, [], `lines over 998 octets for ${what}`);
        const parsed = await simpleParser(mime);
        assert.deepEqual(
          parsed.attachments.map((a) => a.filename),
          // Runs of whitespace are written as one space.
          files.map((f) => f.filename.replace(/[ \t]{2,}/g, ' ')),
        );
      }),
      { numRuns: fuzzRuns(20) },
    );
    assert.ok(accepted > 0, 'no message was accepted');
  });
});
