import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { isReservedHeader } from '../src/domain/validate-message.ts';
import { startTestService, TEST_ENGINE, TEST_KEY, type TestService } from './helpers.ts';
import { fuzzRuns } from './support/fuzz.ts';
import { rowCounts } from './support/row-counts.ts';
import { openSmtpSession, type SmtpSession as Session } from './support/smtp-session.ts';

/**
 * A property test of SMTP submission: mail written byte by byte (valid mail, hostile header
 * fields, encoded words good and broken, 8-bit and invalid UTF-8, NUL, very long lines, broken
 * MIME structures, nested messages, odd attachments, envelopes that disagree with the headers,
 * now and then bytes that are no mail at all), sent over a real SMTP session. Every mail must be
 * answered 250 or a 5xx that says why (one reply line of printable ASCII), never a 4xx or a
 * dropped connection; the session must go on; a refused mail must change no table; an accepted one must be stored as the API would take
 * it (its stored fields, sent to POST /v1/messages, are accepted); and the service must log no
 * error. Runs: TEGAMI_TEST_FUZZ_RUNS.
 */

const RUNS = fuzzRuns(200);

// ---------------------------------------------------------------------------------------------
// Bytes

type Piece = string | Buffer;
const bytes = (...parts: Piece[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** Byte sequences that are no UTF-8: a lone continuation, a cut sequence, a surrogate, overlong. */
const INVALID_UTF8 = [
  [0xff],
  [0xc3],
  [0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xc0, 0xaf],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe3, 0x81],
].map((b) => Buffer.from(b));

/** RFC 2047 encoded words: valid ones (some decoding to line breaks or header lines), broken. */
const ENCODED_WORDS = [
  '=?UTF-8?Q?caf=C3=A9?=',
  `=?UTF-8?B?${b64('ご予約の確認')}?=`,
  '=?ISO-8859-1?Q?Andr=E9?=',
  '=?UTF-8?Q?a=0D=0ABcc:_victim@example.net?=',
  `=?UTF-8?B?${b64('x\r\nX-Injected: yes')}?=`,
  `=?UTF-8?B?${b64('\0nul')}?=`,
  '=?UTF-8?Q?=FF=FE?=',
  '=?bogus?B?QUJD?=',
  '=?UTF-8?B?!!!not base64?=',
  '=?UTF-8?Q?=ZZ=?=',
  '=?UTF-8?X?abc?=',
  '=?UTF-8?Q?unterminated',
  '=??Q??=',
  '=?UTF-8*ja?Q?x?=',
  `=?UTF-8?B?${b64('a'.repeat(300))}?=`,
];

/** Something for a header value or a body: text of every kind, in bytes. */
const piece: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 24 }).map((s) => bytes(s)) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => bytes(s)) },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_UTF8) },
  { weight: 1, arbitrary: fc.constant(Buffer.from([0])) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('ご予約', 'Ünïcödé', '\u2028', '\uFEFF', '\u202E', '😀').map(bytes),
  },
  { weight: 2, arbitrary: fc.constantFrom(...ENCODED_WORDS).map((w) => bytes(' ', w, ' ')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)) },
);
const someText = fc.array(piece, { maxLength: 5 }).map((parts) => Buffer.concat(parts));
/** A line longer than SMTP's 998 characters, up to a few tens of kB. */
const longLine = fc
  .tuple(fc.integer({ min: 990, max: 30_000 }), fc.constantFrom('x', 'é', 'a '))
  .map(([n, c]) => bytes(c.repeat(Math.ceil(n / c.length))));

// ---------------------------------------------------------------------------------------------
// Addresses

/** Local parts smtp-server takes (no dot at either end, no two dots in a row). */
const LOCAL = fc.stringMatching(/^[a-z0-9][a-z0-9_+-]{0,6}(?:\.[a-z0-9_+-]{1,4})?$/);
const DOMAINS = ['example.jp', 'hotel.example', 'mail.example.com'];
const asciiAddress = fc
  .tuple(LOCAL, fc.constantFrom(...DOMAINS))
  .map(([local, domain]) => `${local}@${domain}`);
/** An IDN address: Unicode in the headers, either form in the envelope (SMTPUTF8 for Unicode). */
const IDN = [
  { unicode: 'guest@例え.jp', ascii: 'guest@xn--r8jz45g.jp' },
  { unicode: 'info@bücher.example', ascii: 'info@xn--bcher-kva.example' },
];
const BOGUS_ADDRESSES = [
  'not-an-address',
  'guest@localhost',
  '"quoted local"@example.jp',
  'ゲスト@example.jp',
  'a@b',
  `${'l'.repeat(70)}@example.jp`,
  `guest@${'d'.repeat(70)}.example`,
];

interface Recipient {
  /** As the envelope's RCPT TO gives it. */
  envelope: string;
  /** As a header shows it. */
  header: string;
}
const recipient: fc.Arbitrary<Recipient> = fc.oneof(
  { weight: 6, arbitrary: asciiAddress.map((a) => ({ envelope: a, header: a })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...IDN), fc.boolean(), fc.boolean())
      .map(([idn, envUnicode, headerUnicode]) => ({
        envelope: envUnicode ? idn.unicode : idn.ascii,
        header: headerUnicode ? idn.unicode : idn.ascii,
      })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...BOGUS_ADDRESSES).map((a) => ({ envelope: a, header: a })),
  },
);

/** One mailbox as a header writes it: bare, with a display name (plain, quoted, encoded, 8-bit). */
const mailbox = (address: string): fc.Arbitrary<Buffer> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(bytes(address)) },
    { weight: 2, arbitrary: fc.constant(bytes(`<${address}>`)) },
    {
      weight: 3,
      arbitrary: fc
        .oneof(
          fc.stringMatching(/^[A-Za-z ]{1,16}$/).map((n) => bytes(n.trim() || 'N')),
          fc.string({ maxLength: 12 }).map((n) => bytes(`"${n.replace(/["\\]/g, '')}"`)),
          fc.constantFrom(...ENCODED_WORDS).map(bytes),
          someText,
        )
        .map((name) => bytes(name, ` <${address}>`)),
    },
  );

/** An address header's value: a list of mailboxes, sometimes in groups. */
const addressList = (addresses: string[]): fc.Arbitrary<Buffer> =>
  (addresses.length === 0
    ? fc.constant([] as Buffer[])
    : fc.tuple(...addresses.map(mailbox))
  ).chain((boxes) =>
    fc
      .tuple(fc.constantFrom('plain', 'group', 'empty-group'), fc.constantFrom(', ', ',\r\n ', ','))
      .map(([shape, separator]) => {
        const list = Buffer.concat(
          boxes.flatMap((box, i) => (i ? [bytes(separator), box] : [box])),
        );
        if (shape === 'group') return bytes('Friends: ', list, ';');
        if (shape === 'empty-group')
          return boxes.length
            ? bytes(list, ', undisclosed-recipients:;')
            : bytes('undisclosed-recipients:;');
        return list;
      }),
  );

// ---------------------------------------------------------------------------------------------
// Header fields

const HEADER_NAMES = [
  'X-Tegami-Categories',
  'X-Tegami-Metadata',
  'X-Tegami-Priority',
  'X-Tegami-Send-At',
  'X-Tegami-Message-ID',
  'X-Tegami-Category',
  'x-tegami-priority',
  'Bcc',
  'Cc',
  'Reply-To',
  'Sender',
  'Resent-From',
  'Resent-To',
  'Resent-Bcc',
  'Return-Path',
  'Content-Transfer-Encoding',
  'Content-Type',
  'Content-Disposition',
  'MIME-Version',
  'Message-ID',
  'Date',
  'Subject',
  'In-Reply-To',
  'References',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'Received',
  'DKIM-Signature',
  'ARC-Seal',
  'OTP-Token',
  'X-Mailer',
  'X-Priority',
  'Keywords',
];

const headerName: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HEADER_NAMES).map(bytes) },
  { weight: 3, arbitrary: fc.stringMatching(/^X-[A-Za-z0-9-]{1,14}$/).map(bytes) },
  { weight: 1, arbitrary: fc.stringMatching(/^[!-9;-~]{1,20}$/).map(bytes) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        'X-Ünicode',
        'X-Ta b',
        'X-\u0000',
        '',
        `X-Very-${'Long-'.repeat(60)}`,
        '__proto__',
      )
      .map(bytes),
  },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_UTF8).map((x) => bytes('X-', x)) },
);

/** Values that Tegami's control headers and threading headers read. */
const SPECIAL_VALUES = [
  'booking, confirmation',
  ',,, ,',
  '{"booking_id":"B-7"}',
  '{"a":1}',
  '[1,2]',
  'null',
  '{"k":"v"',
  '{"__proto__":{"admin":"yes"}}',
  'high',
  'low',
  'urgent',
  '2999-01-01T00:00:00Z',
  '2020-01-01T00:00:00Z',
  'tomorrow',
  '<thread-1@hotel.example>',
  '<a@b> <c@d>',
  '<https://hotel.example/u/1>, <mailto:u@hotel.example>',
  'List-Unsubscribe=One-Click',
  'victim@example.net',
  'text/plain; charset=utf-8',
  'base64',
  'quoted-printable',
];

const headerValue: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: someText },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_VALUES).map(bytes) },
  { weight: 1, arbitrary: longLine },
  {
    weight: 1,
    // References of a long thread: more than 998 characters of Message-IDs.
    arbitrary: fc
      .integer({ min: 1, max: 80 })
      .map((n) =>
        bytes(
          Array.from({ length: n }, (_, i) => `<m${i}.${'r'.repeat(20)}@hotel.example>`).join(' '),
        ),
      ),
  },
);

/** A value folded onto more lines (each continuation starts with a space or TAB). */
const folded = (value: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> =>
  fc
    .tuple(
      value,
      fc.array(fc.tuple(fc.constantFrom('\r\n ', '\r\n\t', '\r\n  '), value), { maxLength: 2 }),
    )
    .map(([first, rest]) =>
      Buffer.concat([first, ...rest.flatMap(([fold, v]) => [bytes(fold), v])]),
    );

const headerField: fc.Arbitrary<Buffer> = fc
  .tuple(headerName, fc.constantFrom(': ', ':', ' : ', ':\t'), folded(headerValue))
  .map(([name, colon, value]) => bytes(name, colon, value, '\r\n'));

/** Fields an application writes and Tegami passes on or reads, with values that fit them. */
const plainHeaderField: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.tuple(fc.stringMatching(/^X-[A-Za-z0-9-]{1,14}$/), fc.string({ maxLength: 30 })),
    fc.tuple(
      fc.constant('X-Tegami-Categories'),
      fc.constantFrom('booking', 'booking, winter', ' a ,b'),
    ),
    fc.tuple(
      fc.constant('X-Tegami-Metadata'),
      fc.constantFrom('{"booking_id":"B-7"}', '{"hotel":"京都"}'),
    ),
    fc.tuple(fc.constant('X-Tegami-Priority'), fc.constantFrom('high', 'normal', 'bulk')),
    fc.tuple(
      fc.constant('X-Tegami-Send-At'),
      fc.constant(new Date(Date.now() + 7 * 86_400_000).toISOString()),
    ),
    fc.tuple(
      fc.constantFrom('In-Reply-To', 'References'),
      fc.constantFrom('<t1@hotel.example>', '<a@b> <c@d>'),
    ),
    fc.tuple(fc.constant('List-Unsubscribe'), fc.constantFrom('<https://hotel.example/u/1>')),
    fc.tuple(
      fc.constantFrom('Received', 'DKIM-Signature', 'X-Mailer'),
      fc.constantFrom('from x by y; v=1'),
    ),
  )
  .map(([name, value]) => bytes(`${name}: ${value}\r\n`));

// ---------------------------------------------------------------------------------------------
// Bodies

const CHARSETS = [
  'utf-8',
  'UTF-8',
  'iso-8859-1',
  'iso-2022-jp',
  'shift_jis',
  'utf-16',
  'bogus',
  '',
];

interface Encoded {
  headers: Buffer;
  body: Buffer;
}

/** A leaf part's Content-Transfer-Encoding and body: matching its data, or broken. */
const encodedContent = (content: fc.Arbitrary<Buffer>): fc.Arbitrary<Encoded> =>
  fc
    .tuple(
      content,
      fc.constantFrom(
        'none',
        '7bit',
        '8bit',
        'binary',
        'base64',
        'base64-broken',
        'qp',
        'qp-broken',
        'x-weird',
      ),
    )
    .map(([data, cte]) => {
      const header = (name: string) => bytes(`Content-Transfer-Encoding: ${name}\r\n`);
      switch (cte) {
        case 'none':
          return { headers: bytes(), body: data };
        case 'base64':
          return {
            headers: header('base64'),
            body: bytes(data.toString('base64').replace(/.{76}/g, '$&\r\n')),
          };
        case 'base64-broken':
          return {
            headers: header('base64'),
            body: bytes(data.toString('base64').slice(1), '!*=\r\n==AB', data),
          };
        case 'qp':
          return {
            headers: header('quoted-printable'),
            body: bytes(
              [...data]
                .map((byte) =>
                  byte >= 33 && byte <= 126 && byte !== 61
                    ? String.fromCharCode(byte)
                    : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`,
                )
                .join('')
                .replace(/.{73}(?!$)/g, '$&=\r\n'),
            ),
          };
        case 'qp-broken':
          return {
            headers: header('quoted-printable'),
            body: bytes('=ZZ=4', data, '=\r\n=', '=E3=81'),
          };
        default:
          return { headers: header(cte), body: data };
      }
    });

const bodyText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(piece, { minLength: 1, maxLength: 5 }).map((parts) => Buffer.concat(parts)),
  },
  { weight: 1, arbitrary: longLine },
  {
    weight: 1,
    // Lines that SMTP reads specially: a lone dot, dots at line starts, bare CR and LF.
    arbitrary: fc
      .constantFrom('.\r\n..\r\n.x', 'a\nb\rc\r\n', '\r\n.\r\nQUIT\r\n', '.', 'From: x@y\r\n\r\n')
      .map(bytes),
  },
);

const FILENAMES = [
  'stay.txt',
  '../../etc/passwd',
  'con.txt',
  'a"b.txt',
  'ご予約.pdf',
  '',
  ' ',
  'x'.repeat(300),
  'a\tb.txt',
  '.hidden',
  '=?UTF-8?B?44GU5LqI57SELnBkZg==?=',
  '=?bogus?Q?x?=',
  'a\r\nb.txt',
  'nul\0.txt',
  'invoice\u202Etxt.exe',
  '\ud800.txt',
];
const CONTENT_TYPES = [
  'text/plain',
  'application/pdf',
  'application/x-foo',
  'image/',
  '/',
  ';;;',
  'text/calendar; method=REQUEST',
  'application/octet-stream; name=x.bin',
  'message/delivery-status',
  'text/html; charset=bogus',
  'Ünicode/type',
];

/** An attachment part: filename as a quoted parameter, RFC 2231, 8-bit, or none. */
const attachmentPart: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof(fc.constantFrom(...FILENAMES), fc.string({ maxLength: 16 })),
    fc.constantFrom('quoted', 'rfc2231', 'bare', 'none', 'name-only'),
    fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.string({ maxLength: 12 })),
    encodedContent(
      fc.oneof(
        someText,
        fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      ),
    ),
  )
  .map(([filename, style, type, { headers, body }]) => {
    const quoted = `"${filename.replace(/[\r\n]/g, '').replace(/["\\]/g, '\\$&')}"`;
    const disposition =
      style === 'quoted'
        ? `attachment; filename=${quoted}`
        : style === 'rfc2231'
          ? `attachment; filename*=UTF-8''${Buffer.from(filename).toString('hex').replace(/../g, '%$&')}`
          : style === 'bare'
            ? `attachment; filename=${filename.replace(/[\r\n]/g, '')}`
            : 'attachment';
    const typeLine =
      style === 'name-only'
        ? `Content-Type: ${type}; name=${quoted}\r\n`
        : `Content-Type: ${type}\r\n`;
    return bytes(
      typeLine,
      style === 'name-only' ? '' : `Content-Disposition: ${disposition}\r\n`,
      headers,
      '\r\n',
      body,
    );
  });

/** A text or HTML leaf part, with a charset that may not be what its bytes are. */
const textPart = (subtype: 'plain' | 'html'): fc.Arbitrary<Buffer> =>
  fc
    .tuple(fc.constantFrom(...CHARSETS), encodedContent(bodyText))
    .map(([charset, { headers, body }]) =>
      bytes(
        `Content-Type: text/${subtype}${charset ? `; charset=${charset}` : ''}\r\n`,
        headers,
        '\r\n',
        subtype === 'html' ? bytes('<p>', body, '</p>') : body,
      ),
    );

const BOUNDARY_SHAPES = [
  'right',
  'missing',
  'mismatched',
  'duplicate-param',
  'no-close',
  'empty',
  'shared',
];

/**
 * A MIME entity (its header fields that describe content, a blank line, its body): a leaf, or a
 * multipart whose boundary may be missing, repeated, mismatched, shared or never closed, or a
 * message/rfc822.
 */
const entity: fc.Arbitrary<Buffer> = fc.letrec<{ entity: Buffer }>((tie) => ({
  entity: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: textPart('plain') },
    { weight: 1, arbitrary: textPart('html') },
    { weight: 1, arbitrary: attachmentPart },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom('mixed', 'alternative', 'related', 'report', 'bogus'),
          fc.constantFrom(...BOUNDARY_SHAPES),
          fc.array(tie('entity'), { minLength: 1, maxLength: 3 }),
          fc.option(someText, { freq: 3 }),
        )
        .map(([subtype, shape, parts, preamble]) => {
          // 'shared': the boundary of every other 'shared' multipart around or inside it.
          const boundary = shape === 'shared' ? 'b' : `b-${parts.length}-${subtype}`;
          const declared =
            shape === 'missing'
              ? ''
              : shape === 'empty'
                ? '; boundary=""'
                : shape === 'duplicate-param'
                  ? `; boundary="${boundary}"; boundary="other"`
                  : `; boundary="${boundary}"`;
          const used = shape === 'mismatched' ? 'other-boundary' : boundary;
          return bytes(
            `Content-Type: multipart/${subtype}${declared}\r\n\r\n`,
            preamble ?? '',
            '\r\n',
            ...parts.flatMap((part) => [bytes(`--${used}\r\n`), part, bytes('\r\n')]),
            shape === 'no-close' ? '' : `--${used}--\r\n`,
          );
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.array(headerField, { maxLength: 3 }), tie('entity'))
        .map(([fields, inner]) =>
          bytes(
            'Content-Type: message/rfc822\r\n\r\n',
            'From: inner@hotel.example\r\nTo: other@example.jp\r\nBcc: hidden@example.net\r\nSubject: inner\r\n',
            ...fields,
            inner,
          ),
        ),
    },
  ),
})).entity;

// ---------------------------------------------------------------------------------------------
// Mail

interface Mail {
  mailFrom: string;
  rcptTo: string[];
  /** SMTPUTF8 on MAIL FROM (an envelope address is not ASCII). */
  utf8: boolean;
  data: Buffer;
  what: string;
}

const ascii = (s: string) => /^[\x20-\x7e]*$/.test(s);

/** A mail with its envelope: headers that mostly agree with the envelope, then any body. */
const structuredMail: fc.Arbitrary<Mail> = fc
  .record({
    from: fc.oneof(
      {
        weight: 24,
        arbitrary: fc.constant({
          envelope: 'bookings@hotel.example',
          header: 'bookings@hotel.example',
        }),
      },
      { weight: 4, arbitrary: recipient },
      { weight: 1, arbitrary: fc.constant({ envelope: '', header: '' }) },
      { weight: 1, arbitrary: fc.constant({ envelope: '', header: 'bookings@hotel.example' }) },
    ),
    recipients: fc.array(recipient, { minLength: 1, maxLength: 3 }),
    // Mostly the first recipient is in To (a mail whose To holds none of them is refused).
    toShown: fc
      .tuple(fc.boolean(), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 9 }))
      .map(([a, b, c, dice]) => [a || dice > 0, b, c]),
    ccShown: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    strangers: fc.array(asciiAddress, { maxLength: 2 }),
    subject: fc.option(
      fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .string({ minLength: 1, maxLength: 40 })
            .map((t) => bytes(t.trim() || 'Hello')),
        },
        { weight: 1, arbitrary: fc.constantFrom(...ENCODED_WORDS).map((w) => bytes(`Re: ${w}`)) },
        { weight: 1, arbitrary: folded(headerValue) },
      ),
      { freq: 12 },
    ),
    messageId: fc.option(
      fc.stringMatching(/^[a-z0-9]{4,12}$/).map((id) => `<${id}@hotel.example>`),
      { freq: 4 },
    ),
    extra: fc.array(
      fc.oneof({ weight: 2, arbitrary: plainHeaderField }, { weight: 1, arbitrary: headerField }),
      {
        maxLength: 5,
      },
    ),
    extraFirst: fc.boolean(),
    body: fc.oneof(
      { weight: 12, arbitrary: entity },
      // No MIME headers at all: a plain body after the blank line.
      { weight: 4, arbitrary: bodyText.map((text) => bytes('\r\n', text)) },
      // The blank line never comes: headers only.
      { weight: 1, arbitrary: fc.constant(bytes()) },
    ),
    mimeVersion: fc.boolean(),
  })
  .chain((m) =>
    fc
      .tuple(
        addressList([
          ...m.recipients.filter((_, i) => m.toShown[i] ?? true).map((r) => r.header),
          ...m.strangers,
        ]),
        addressList(
          m.recipients.filter((_, i) => !m.toShown[i] && m.ccShown[i]).map((r) => r.header),
        ),
        m.from.header ? mailbox(m.from.header) : fc.constant(null),
      )
      .map(([to, cc, from]): Mail => {
        const fields: Buffer[] = [];
        if (from) fields.push(bytes('From: ', from, '\r\n'));
        fields.push(bytes('To: ', to, '\r\n'));
        if (cc.length > 0) fields.push(bytes('Cc: ', cc, '\r\n'));
        if (m.subject) fields.push(bytes('Subject: ', m.subject, '\r\n'));
        if (m.messageId) fields.push(bytes(`Message-ID: ${m.messageId}\r\n`));
        fields.push(bytes('Date: Tue, 1 Jul 2025 09:00:00 +0900\r\n'));
        if (m.mimeVersion) fields.push(bytes('MIME-Version: 1.0\r\n'));
        if (m.extraFirst) fields.unshift(...m.extra);
        else fields.push(...m.extra);
        const rcptTo = m.recipients.map((r) => r.envelope);
        const data = bytes(...fields, m.body);
        return {
          mailFrom: m.from.envelope,
          rcptTo,
          utf8: ![m.from.envelope, ...rcptTo].every(ascii),
          data,
          what: '',
        };
      }),
  );

/**
 * Ways a whole mail can be odd: line ends that are not CRLF, thousands of header fields, a body of
 * megabytes that grows when written as JSON (NUL and quotes are escaped there).
 */
const oddity = fc.oneof(
  { weight: 40, arbitrary: fc.constant('none' as const) },
  { weight: 4, arbitrary: fc.constant('lf' as const) },
  { weight: 1, arbitrary: fc.constant('cr' as const) },
  { weight: 1, arbitrary: fc.constant('many-fields' as const) },
  { weight: 1, arbitrary: fc.constant('big' as const) },
);

function applyOddity(data: Buffer, odd: string, size: number): Buffer {
  switch (odd) {
    case 'lf':
      return Buffer.from(data.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    case 'cr':
      return Buffer.from(data.toString('latin1').replace(/\r\n/g, '\r'), 'latin1');
    case 'many-fields':
      return bytes(
        Array.from({ length: size % 3000 }, (_, i) => `X-Field-${i}: value ${i}\r\n`).join(''),
        data,
      );
    case 'big': {
      const filler = [Buffer.from([0]), bytes('"'), bytes('é'), bytes('a')][size % 4] as Buffer;
      const length = 2_000_000 + ((size * 7919) % 8_000_000);
      const line = Buffer.concat([Buffer.alloc(998, filler).subarray(0, 996), bytes('\r\n')]);
      return bytes(
        'From: bookings@hotel.example\r\nTo: guest@example.jp\r\nSubject: big\r\n\r\n',
        Buffer.concat(Array.from({ length: Math.ceil(length / line.length) }, () => line)),
      );
    }
    default:
      return data;
  }
}

/** Now and then no mail at all: random bytes, or a few header-like lines of them. */
const randomMail: fc.Arbitrary<Mail> = fc
  .oneof(
    fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
    fc
      .array(fc.oneof(headerField, piece, fc.constant(bytes('\r\n'))), { maxLength: 8 })
      .map((p) => Buffer.concat(p)),
  )
  .map((data) => ({
    mailFrom: 'bookings@hotel.example',
    rcptTo: ['guest@example.jp'],
    utf8: false,
    data,
    what: '',
  }));

const mailArb: fc.Arbitrary<Mail> = fc
  .tuple(
    fc.oneof({ weight: 9, arbitrary: structuredMail }, { weight: 1, arbitrary: randomMail }),
    oddity,
    fc.nat(),
  )
  .map(([plain, odd, size]) => {
    const mail = { ...plain, data: applyOddity(plain.data, odd, size) };
    if (odd === 'big') mail.rcptTo = ['guest@example.jp'];
    return mail;
  })
  .map((mail) => ({
    ...mail,
    what: `MAIL FROM:<${mail.mailFrom}> RCPT TO:${mail.rcptTo.map((r) => `<${r}>`).join(',')} DATA (${mail.data.length} bytes) ${JSON.stringify(mail.data.toString('latin1').slice(0, 1500))}`,
  }));

// ---------------------------------------------------------------------------------------------
// SMTP over a socket

/** DATA's bytes as they go on the wire: dots at line starts doubled, ended by CRLF.CRLF. */
function dotStuffed(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const byte = data[i] as number;
    if (byte === 0x2e && (i === 0 || data[i - 1] === 0x0a)) out.push(0x2e);
    out.push(byte);
  }
  const ended =
    data.length >= 2 && data[data.length - 2] === 0x0d && data[data.length - 1] === 0x0a;
  return Buffer.concat([Buffer.from(out), Buffer.from(ended ? '.\r\n' : '\r\n.\r\n')]);
}

// ---------------------------------------------------------------------------------------------
// Checks

/** 250, or a 5xx whose text (past its enhanced status code) says why. */
function checkAnswer(reply: string, what: string): 'accepted' | 'refused' {
  // RFC 5321 (4.2, 4.5.3.1.5): a reply line is printable ASCII (and TAB), at most 512 octets
  // with its CRLF, whatever the mail held.
  for (const line of reply.split('\r\n')) {
    assert.match(
      line,
      /^[\x20-\x7e\t]*$/,
      `${what}: a reply line of printable ASCII, got ${JSON.stringify(line)}`,
    );
    assert.ok(line.length <= 510, `${what}: a reply line of ${line.length} characters`);
  }
  if (/^250[ -]/.test(reply)) return 'accepted';
  assert.match(reply, /^5\d\d /, `${what}: answered ${reply}`);
  const reason = reply.replace(/^5\d\d (?:5\.\d{1,3}\.\d{1,3} )?/, '');
  assert.ok(/[a-z]{3}/i.test(reason), `${what}: a refusal that says why, got ${reply}`);
  return 'refused';
}

const LINE_BREAK = /[\r\n]/;

interface Stored {
  from: { email: string; name?: string };
  reply_to?: { email: string; name?: string } | null;
  recipients: { email: string; name?: string | null; type: string }[];
  subject: string;
  text?: string | null;
  html?: string | null;
  headers?: Record<string, string> | null;
  categories?: string[];
  metadata?: Record<string, string> | null;
  priority?: string;
  send_at?: string | null;
  status: string;
  attachments?: { filename: string; content_type: string; size: number }[];
}

/** The stored message as a POST /v1/messages body (attachments with stand-in content). */
function resubmission(m: Stored): Record<string, unknown> {
  const address = (a: { email: string; name?: string | null }) =>
    a.name ? { email: a.email, name: a.name } : { email: a.email };
  const of = (type: string) => m.recipients.filter((r) => r.type === type).map(address);
  const body: Record<string, unknown> = { from: address(m.from), to: of('to'), subject: m.subject };
  if (of('cc').length) body.cc = of('cc');
  if (of('bcc').length) body.bcc = of('bcc');
  if (m.reply_to) body.reply_to = address(m.reply_to);
  if (m.text) body.text = m.text;
  if (m.html) body.html = m.html;
  if (m.headers && Object.keys(m.headers).length) body.headers = m.headers;
  if (m.categories?.length) body.categories = m.categories;
  if (m.metadata && Object.keys(m.metadata).length) body.metadata = m.metadata;
  if (m.priority) body.priority = m.priority;
  if (m.status === 'scheduled' && m.send_at) body.send_at = m.send_at;
  if (m.attachments?.length) {
    body.attachments = m.attachments.map((a) => ({
      filename: a.filename,
      content_type: a.content_type,
      content: 'aGVsbG8=',
    }));
  }
  return body;
}

// ---------------------------------------------------------------------------------------------

describe(`property: raw mail over SMTP submission (${TEST_ENGINE})`, () => {
  const logLines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
  let tegami: TestService;
  let port = 0;
  let session: Session | null = null;
  let accepted = 0;
  let refused = 0;

  async function freshSession(): Promise<Session> {
    const s = openSmtpSession(port, 'latin1');
    assert.match(await s.reply(), /^220 /);
    assert.match(await s.command('EHLO fuzz.example'), /^250[ -]/);
    const plain = Buffer.from(`\0apikey\0${TEST_KEY}`).toString('base64');
    assert.match(await s.command(`AUTH PLAIN ${plain}`), /^235 /);
    return s;
  }

  before(async () => {
    tegami = await startTestService(
      { TEGAMI_SMTP_PORT: '0', TEGAMI_TEST_NO_WORKER: '1' },
      { logger, housekeeping: false },
    );
    port = tegami.service.smtp?.port ?? 0;
    assert.ok(port > 0, 'SMTP listens');
  });
  after(async () => {
    session?.socket.destroy();
    await tegami.stop();
  });

  /** Sends one mail on the session; its DATA reply, or the reply that ended the transaction. */
  async function send(s: Session, mail: Mail): Promise<{ stage: string; reply: string }> {
    const utf8 = mail.utf8 ? ' SMTPUTF8' : '';
    const from = await s.command(Buffer.from(`MAIL FROM:<${mail.mailFrom}>${utf8}\r\n`, 'utf8'));
    if (!/^250 /.test(from)) return { stage: 'MAIL FROM', reply: from };
    let taken = 0;
    for (const r of mail.rcptTo) {
      const rcpt = await s.command(Buffer.from(`RCPT TO:<${r}>\r\n`, 'utf8'));
      if (/^250 /.test(rcpt)) taken++;
      else checkAnswer(rcpt, `${mail.what}: RCPT TO:<${r}>`);
    }
    if (taken === 0) return { stage: 'RCPT TO', reply: '550 no recipient was taken' };
    const data = await s.command('DATA');
    if (!/^354 /.test(data)) return { stage: 'DATA', reply: data };
    return { stage: 'end of DATA', reply: await s.command(dotStuffed(mail.data)) };
  }

  test('every mail is answered 250 or a 5xx that says why; a refusal stores nothing; what is stored is valid', async () => {
    await fc.assert(
      fc.asyncProperty(mailArb, async (mail) => {
        if (!session || session.closed()) session = await freshSession();
        const s = session;
        const before = await rowCounts(tegami.databaseUrl);
        const { stage, reply } = await send(s, mail);
        const what = `${mail.what} (${stage})`;
        const outcome = checkAnswer(reply, what);
        // The session goes on: the next command is answered.
        const next = await s.command(outcome === 'accepted' ? 'NOOP' : 'RSET');
        assert.match(next, /^250 /, `${what}: after ${reply}, the session answered ${next}`);
        if (outcome === 'refused') {
          refused++;
          assert.deepEqual(
            await rowCounts(tegami.databaseUrl),
            before,
            `${what}: ${reply} stored nothing`,
          );
          return;
        }
        accepted++;
        const id = /queued as (msg_\w+)/.exec(reply)?.[1];
        assert.ok(id, `${what}: 250 names the message: ${reply}`);
        const shown = await tegami.request('GET', `/v1/messages/${id}`);
        assert.equal(shown.status, 200, `${what}: ${id} is shown`);
        const m = shown.body as Stored;
        for (const [name, value] of Object.entries(m.headers ?? {})) {
          assert.ok(!isReservedHeader(name), `${what}: stored a reserved header ${name}`);
          assert.ok(
            !LINE_BREAK.test(name) && !LINE_BREAK.test(value),
            `${what}: header ${JSON.stringify([name, value])}`,
          );
        }
        for (const text of [m.subject, m.from.name, ...m.recipients.map((r) => r.name)]) {
          assert.ok(
            !LINE_BREAK.test(text ?? ''),
            `${what}: a line break in ${JSON.stringify(text)}`,
          );
        }
        const again = await tegami.request('POST', '/v1/messages', resubmission(m));
        assert.equal(
          again.status,
          202,
          `${what}: stored as ${JSON.stringify(m).slice(0, 2000)}, which POST /v1/messages refuses: ${JSON.stringify(again.body)}`,
        );
      }),
      { numRuns: RUNS },
    );
    assert.ok(accepted > 0 && refused > 0, `accepted ${accepted}, refused ${refused}: both happen`);
  });

  test('a fresh connection still works, and no error was logged', async () => {
    session?.socket.destroy();
    const s = await freshSession();
    try {
      const { reply } = await send(s, {
        mailFrom: 'bookings@hotel.example',
        rcptTo: ['guest@example.jp'],
        utf8: false,
        data: bytes(
          'From: bookings@hotel.example\r\nTo: guest@example.jp\r\nSubject: still here\r\n\r\nhello\r\n',
        ),
        what: 'a plain mail',
      });
      assert.match(reply, /^250 2\.0\.0 OK: queued as msg_/);
    } finally {
      s.socket.destroy();
    }
    const errors = logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    assert.deepEqual(errors, [], 'the service logged errors');
  });
});
