// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import { mailToMessage, type ParsedMailLike } from '../src/smtp/mail-to-message.ts';

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
});
