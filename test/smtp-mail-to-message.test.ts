// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import {
  mailToMessage,
  type ParsedMailLike,
  shortenedReferences,
} from '../src/smtp/mail-to-message.ts';

/** A mail as nodemailer writes it, read back as the SMTP server reads it. */
async function parsed(mail: SendMailOptions): Promise<ParsedMailLike> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
  const info = await transport.sendMail(mail);
  return (await simpleParser(info.message as Buffer)) as unknown as ParsedMailLike;
}

describe('SMTP mail read into a message', () => {
  test('the envelope says who gets it; To and Cc say how they are shown; the rest is Bcc', async () => {
    const mail = await parsed({
      from: '"Hotel" <bookings@hotel.example>',
      to: ['"Taro Tanaka" <Taro@Example.JP>', 'not-in-envelope@example.jp'],
      cc: 'desk@hotel.example',
      subject: 'Your booking',
      text: 'See you',
    });
    const mapped = mailToMessage(mail, {
      mailFrom: 'bounces@hotel.example',
      rcptTo: ['taro@example.jp', 'desk@hotel.example', 'audit@hotel.example'],
    });
    assert.ok('input' in mapped, JSON.stringify(mapped));
    assert.deepEqual(mapped.input.from, { email: 'bookings@hotel.example', name: 'Hotel' });
    assert.deepEqual(mapped.input.to, [{ email: 'Taro@example.jp', name: 'Taro Tanaka' }]);
    assert.deepEqual(mapped.input.cc, [{ email: 'desk@hotel.example' }]);
    assert.deepEqual(mapped.input.bcc, [{ email: 'audit@hotel.example' }]);
    assert.equal(mapped.input.subject, 'Your booking');
    assert.equal(mapped.input.text, 'See you\n');
    assert.equal(mapped.input.html, undefined);
  });

  test('Tegami’s own headers set categories, metadata, priority and send_at; X- headers pass on', async () => {
    const mail = await parsed({
      from: 'bookings@hotel.example',
      to: 'guest@example.jp',
      replyTo: 'front@hotel.example',
      subject: 'ご予約の確認',
      html: '<p>ようこそ</p>',
      attachments: [
        { filename: 'stay.ics', content: 'BEGIN:VCALENDAR', contentType: 'text/calendar' },
      ],
      headers: {
        'X-Tegami-Categories': 'booking, confirmation',
        // nodemailer writes JSON as an encoded word (=?UTF-8?Q?…?=).
        'X-Tegami-Metadata': '{"booking_id":"B-1","hotel":"京都"}',
        'X-Tegami-Priority': 'high',
        'X-Tegami-Send-At': '2026-12-24T09:00:00Z',
        'X-Campaign': 'winter 雪',
        'List-Unsubscribe': '<https://hotel.example/u/1>',
        // A mail Tegami rendered, sent again as it was: its id is dropped, not refused.
        'X-Tegami-Message-ID': 'msg_01J0000000000000000000TEST',
        'X-SMTPAPI': '{"to":["someone@else.example"]}',
      },
    });
    const mapped = mailToMessage(mail, { mailFrom: null, rcptTo: ['guest@example.jp'] });
    assert.ok('input' in mapped, JSON.stringify(mapped));
    const { input } = mapped;
    assert.deepEqual(input.categories, ['booking', 'confirmation']);
    assert.deepEqual(input.metadata, { booking_id: 'B-1', hotel: '京都' });
    assert.equal(input.priority, 'high');
    assert.equal(input.send_at, '2026-12-24T09:00:00Z');
    assert.equal(input.html, '<p>ようこそ</p>');
    assert.deepEqual(input.reply_to, { email: 'front@hotel.example' });
    assert.deepEqual(input.headers, {
      'X-Campaign': 'winter 雪',
      'List-Unsubscribe': '<https://hotel.example/u/1>',
    });
    assert.deepEqual(input.attachments, [
      {
        filename: 'stay.ics',
        content: Buffer.from('BEGIN:VCALENDAR').toString('base64'),
        content_type: 'text/calendar',
      },
    ]);
  });

  test('what cannot be sent as asked is refused with the reason', async () => {
    const bccOnly = await parsed({ from: 'a@hotel.example', to: 'x@example.jp', subject: 's' });
    const refused = mailToMessage(bccOnly, { mailFrom: null, rcptTo: ['hidden@example.jp'] });
    assert.ok('refusal' in refused);
    assert.match(refused.refusal, /To: header/);

    for (const [headers, reason] of [
      [{ 'X-Tegami-Metadata': 'not json' }, /X-Tegami-Metadata/],
      [{ 'X-Tegami-Metadata': '{"n":1}' }, /X-Tegami-Metadata/],
      [{ 'X-Tegami-Priority': 'urgent' }, /X-Tegami-Priority/],
      // Misspelt, it would vanish and the mail go out without its categories.
      [{ 'X-Tegami-Category': 'booking' }, /X-Tegami-Category is not a header Tegami reads/],
      [{ 'x-tegami-sendat': '2026-12-24T09:00:00Z' }, /X-Tegami-Send-At/],
    ] as const) {
      const mail = await parsed({
        from: 'a@hotel.example',
        to: 'x@example.jp',
        subject: 's',
        headers,
      });
      const mapped = mailToMessage(mail, { mailFrom: null, rcptTo: ['x@example.jp'] });
      assert.ok('refusal' in mapped, JSON.stringify(headers));
      assert.match(mapped.refusal, reason);
    }
  });

  test('headers written in 8-bit UTF-8 (SMTPUTF8) read as the text they are', async () => {
    const raw = Buffer.from(
      [
        'From: "山田" <a@hotel.example>',
        'To: guest@example.jp',
        'Subject: 件名',
        'X-Campaign: 生の値',
        'X-Latin: caf\u00e9',
        '',
        'body',
        '',
      ].join('\r\n'),
      'utf8',
    );
    // A legacy client's Latin-1 byte (no UTF-8) is read as Latin-1.
    const latin1 = Buffer.from('X-Latin: caf\u00e9\r\n', 'latin1');
    const at = raw.indexOf('X-Latin:');
    const end = raw.indexOf('\r\n', at) + 2;
    const mail = (await simpleParser(
      Buffer.concat([raw.subarray(0, at), latin1, raw.subarray(end)]),
    )) as unknown as ParsedMailLike;
    const mapped = mailToMessage(mail, { mailFrom: null, rcptTo: ['guest@example.jp'] });
    assert.ok('input' in mapped, JSON.stringify(mapped));
    assert.deepEqual(mapped.input.headers, { 'X-Campaign': '生の値', 'X-Latin': 'café' });
    assert.equal(mapped.input.subject, '件名');
  });

  test('a header name written in UTF-8 is named as written, not as mojibake', async () => {
    const raw = Buffer.from(
      [
        'From: a@hotel.example',
        'To: guest@example.jp',
        'Subject: s',
        'X-Tegami-Kategorie-Ü: booking',
        'X-Größe: 3',
        '',
        'body',
        '',
      ].join('\r\n'),
      'utf8',
    );
    const mail = (await simpleParser(raw)) as unknown as ParsedMailLike;
    const mapped = mailToMessage(mail, { mailFrom: null, rcptTo: ['guest@example.jp'] });
    assert.ok('refusal' in mapped, JSON.stringify(mapped));
    assert.match(mapped.refusal, /^X-Tegami-Kategorie-Ü is not a header Tegami reads/);
    // Not a control header: passed on under its name, for the API to refuse (names are ASCII).
    const other = (await simpleParser(
      Buffer.from(raw.toString('utf8').replace('X-Tegami-Kategorie-Ü: booking\r\n', ''), 'utf8'),
    )) as unknown as ParsedMailLike;
    const passed = mailToMessage(other, { mailFrom: null, rcptTo: ['guest@example.jp'] });
    assert.ok('input' in passed, JSON.stringify(passed));
    assert.deepEqual(passed.input.headers, { 'X-Größe': '3' });
  });

  test('an IDN domain is sent in its ASCII form, which mailparser and smtp-server undo', async () => {
    const mail = await parsed({
      from: 'bookings@xn--bcher-kva.example',
      to: '"Guest" <guest@xn--r8jz45g.jp>',
      cc: 'desk@例え.jp',
      subject: 's',
      text: 't',
    });
    // smtp-server gives the envelope's domains in Unicode too.
    const mapped = mailToMessage(mail, {
      mailFrom: null,
      rcptTo: ['guest@例え.jp', 'desk@例え.jp', 'audit@bücher.example'],
    });
    assert.ok('input' in mapped, JSON.stringify(mapped));
    assert.deepEqual(mapped.input.from, { email: 'bookings@xn--bcher-kva.example' });
    assert.deepEqual(mapped.input.to, [{ email: 'guest@xn--r8jz45g.jp', name: 'Guest' }]);
    assert.deepEqual(mapped.input.cc, [{ email: 'desk@xn--r8jz45g.jp' }]);
    assert.deepEqual(mapped.input.bcc, [{ email: 'audit@xn--bcher-kva.example' }]);
  });

  test('a long thread’s References is shortened to the first and the last Message-IDs', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `<reply-${i}-abcdefghij@mail.hotel.example>`);
    const mail = await parsed({
      from: 'a@hotel.example',
      to: 'guest@example.jp',
      subject: 'Re: s',
      text: 't',
      references: ids,
    });
    const mapped = mailToMessage(mail, { mailFrom: null, rcptTo: ['guest@example.jp'] });
    assert.ok('input' in mapped, JSON.stringify(mapped));
    const references = mapped.input.headers?.References ?? '';
    assert.ok(references.length <= 998, `${references.length} characters`);
    const kept = references.split(' ');
    assert.equal(kept[0], ids[0]);
    assert.deepEqual(kept.slice(1), ids.slice(ids.length - kept.length + 1));
    assert.ok(kept.length > 20);
    assert.equal(shortenedReferences('<a@x> <b@x>'), '<a@x> <b@x>');
  });

  test('an embedded image keeps its Content-ID and is inline; a file is a plain attachment', async () => {
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const mail = await parsed({
      from: 'a@hotel.example',
      to: 'guest@example.jp',
      subject: 'Your booking',
      html: '<img src="cid:logo@hotel.example">',
      attachments: [
        // nodemailer: multipart/related, Content-Disposition: inline, Content-ID.
        { filename: 'logo.png', content: png, contentType: 'image/png', cid: 'logo@hotel.example' },
        { filename: 'stay.pdf', content: '%PDF', contentType: 'application/pdf' },
        // A Content-ID on a file the mail calls an attachment: kept, and still an attachment.
        {
          filename: 'map.png',
          content: png,
          contentType: 'image/png',
          cid: 'map@hotel.example',
          contentDisposition: 'attachment',
        },
      ],
    });
    const mapped = mailToMessage(mail, { mailFrom: null, rcptTo: ['guest@example.jp'] });
    assert.ok('input' in mapped, JSON.stringify(mapped));
    assert.deepEqual(
      mapped.input.attachments?.map(({ content: _, ...a }) => a),
      [
        {
          filename: 'logo.png',
          content_type: 'image/png',
          content_id: 'logo@hotel.example',
          disposition: 'inline',
        },
        { filename: 'map.png', content_type: 'image/png', content_id: 'map@hotel.example' },
        { filename: 'stay.pdf', content_type: 'application/pdf' },
      ],
    );

    // An image in multipart/related with a Content-ID and no Content-Disposition, as some
    // clients write one: inline.
    const raw = [
      'From: a@hotel.example',
      'To: guest@example.jp',
      'Subject: Your booking',
      'MIME-Version: 1.0',
      'Content-Type: multipart/related; boundary="b"',
      '',
      '--b',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<img src="cid:logo@hotel.example">',
      '--b',
      'Content-Type: image/png',
      'Content-ID: <logo@hotel.example>',
      'Content-Transfer-Encoding: base64',
      '',
      png.toString('base64'),
      '--b--',
      '',
    ].join('\r\n');
    const related = mailToMessage((await simpleParser(raw)) as unknown as ParsedMailLike, {
      mailFrom: null,
      rcptTo: ['guest@example.jp'],
    });
    assert.ok('input' in related, JSON.stringify(related));
    assert.deepEqual(
      related.input.attachments?.map(({ content: _, ...a }) => a),
      [
        {
          filename: 'attachment-1',
          content_type: 'image/png',
          content_id: 'logo@hotel.example',
          disposition: 'inline',
        },
      ],
    );
  });
});
