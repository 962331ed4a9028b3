import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { loadConfig } from '../src/cli/config.ts';
import { ensureBootstrapKey } from '../src/domain/api-keys.ts';
import { START_ACTORS } from '../src/domain/operations/audit.ts';
import { RATE_LIMIT_WINDOW_MS } from '../src/domain/unit-rate-limit.ts';
import { SqlApiKeyStore } from '../src/store/index.ts';
import {
  createUnitWithKey,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
  waitFor,
} from './helpers.ts';
import { openSmtpSession } from './support/smtp-session.ts';

/**
 * SMTP submission (TEGAMI_SMTP_PORT): an application that can only speak SMTP hands mail to
 * Tegami with an API key as the password. `250` comes once the message is stored, as `202` does
 * on the API; what the client must fix is a 5xx, what passes by itself a 4xx.
 */
describe(`SMTP submission (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let port = 0;

  const transport = (pass = TEST_KEY) =>
    nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      auth: { user: 'apikey', pass },
    });
  const smtpError = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return error as { responseCode?: number; response?: string };
    }
    assert.fail('the mail was accepted');
  };
  const plainMail = {
    from: 'bookings@hotel.example',
    to: 'guest@example.jp',
    subject: 'Your booking',
    text: 'See you',
  };
  const byMessageIdOf = (response: string) => /queued as (msg_\w+)/.exec(response)?.[1] ?? '';

  before(async () => {
    tegami = await startTestService({
      TEGAMI_SMTP_PORT: '0',
      TEGAMI_TEST_NO_WORKER: '1',
    });
    port = tegami.service.smtp?.port ?? 0;
    assert.ok(port > 0, 'SMTP listens');
  });
  after(async () => {
    await tegami.stop();
  });

  test('a mail is answered 250 with its id once stored, and reads as the API shows it', async () => {
    const info = await transport().sendMail({
      from: '"Hotel" <bookings@hotel.example>',
      to: '"Taro Tanaka" <taro@example.jp>',
      bcc: 'audit@hotel.example',
      subject: 'ご予約の確認',
      text: 'See you soon',
      html: '<p>See you soon</p>',
      headers: {
        'X-Tegami-Categories': 'booking',
        'X-Tegami-Metadata': '{"booking_id":"B-7"}',
        'X-Tegami-Priority': 'high',
      },
      attachments: [{ filename: 'stay.txt', content: 'room 301' }],
    });
    assert.match(info.response, /^250 2\.0\.0 OK: queued as msg_/);
    const id = byMessageIdOf(info.response);
    const stored = await tegami.request('GET', `/v1/messages/${id}`);
    assert.equal(stored.status, 200);
    const m = stored.body;
    assert.equal(m.status, 'queued');
    assert.equal(m.priority, 'high');
    assert.deepEqual(m.from, { email: 'bookings@hotel.example', name: 'Hotel' });
    assert.equal(m.subject, 'ご予約の確認');
    assert.deepEqual(m.categories, ['booking']);
    assert.deepEqual(m.metadata, { booking_id: 'B-7' });
    assert.deepEqual(
      m.recipients.map((r: { email: string; type: string }) => `${r.type}:${r.email}`),
      ['to:taro@example.jp', 'bcc:audit@hotel.example'],
    );
    assert.deepEqual(m.attachments, [
      { filename: 'stay.txt', content_type: 'text/plain', size: 8, disposition: 'attachment' },
    ]);
    // It is found as any mail is.
    const found = await tegami.request('GET', '/v1/messages?recipient_name=tanaka');
    assert.deepEqual(
      found.body.data.map((r: { id: string }) => r.id),
      [id],
    );
  });

  test('a mail sent again with the same Message-ID is stored once', async () => {
    const mail = {
      from: 'bookings@hotel.example',
      to: 'hanako@example.jp',
      subject: 'Once',
      text: 'x',
      messageId: '<booking-42@hotel.example>',
    };
    const first = await transport().sendMail(mail);
    const again = await transport().sendMail(mail);
    assert.equal(byMessageIdOf(again.response), byMessageIdOf(first.response));
    const listed = await tegami.request('GET', '/v1/messages?recipient=hanako@example.jp');
    assert.equal(listed.body.data.length, 1);
  });

  test('a wrong key is refused at AUTH (535), and nothing is stored', async () => {
    const before = await tegami.request('GET', '/v1/messages?limit=500');
    const refused = await smtpError(transport('tgm_not_a_key_0123456789').sendMail(plainMail));
    assert.equal(refused.responseCode, 535);
    const afterwards = await tegami.request('GET', '/v1/messages?limit=500');
    assert.equal(afterwards.body.data.length, before.body.data.length);
  });

  test('mail the API would refuse is refused with its reasons (550); nothing is stored', async () => {
    const before = await tegami.request('GET', '/v1/messages?limit=500');
    const badFrom = await smtpError(
      transport().sendMail({
        from: 'bookings@localhost',
        to: 'guest@example.jp',
        subject: 's',
        text: 't',
      }),
    );
    assert.equal(badFrom.responseCode, 550);
    assert.match(badFrom.response ?? '', /from\.email is not a valid email address/);
    const bccOnly = await smtpError(
      transport().sendMail({
        envelope: { from: 'bookings@hotel.example', to: ['hidden@example.jp'] },
        from: 'bookings@hotel.example',
        to: 'shown@example.jp',
        subject: 's',
        text: 't',
      }),
    );
    assert.equal(bccOnly.responseCode, 550);
    assert.match(bccOnly.response ?? '', /To: header/);
    const misspelt = await smtpError(
      transport().sendMail({
        ...plainMail,
        headers: { 'X-Tegami-Category': 'booking' },
      }),
    );
    assert.equal(misspelt.responseCode, 550);
    assert.match(misspelt.response ?? '', /X-Tegami-Category is not a header Tegami reads/);
    const afterwards = await tegami.request('GET', '/v1/messages?limit=500');
    assert.equal(afterwards.body.data.length, before.body.data.length);
  });

  test('a refusal naming what the mail held is one line of printable ASCII, the rest escaped', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    socket.setEncoding('latin1');
    try {
      assert.match(await reply(), /^220 /);
      await command('EHLO test.example');
      const plain = Buffer.from(`\0apikey\0${TEST_KEY}`).toString('base64');
      assert.match(await command(`AUTH PLAIN ${plain}`), /^235 /);
      const send = async (header: string) => {
        assert.match(await command('MAIL FROM:<bookings@hotel.example>'), /^250 /);
        assert.match(await command('RCPT TO:<guest@example.jp>'), /^250 /);
        assert.match(await command('DATA'), /^354 /);
        const head = 'From: bookings@hotel.example\r\nTo: guest@example.jp\r\nSubject: s\r\n';
        // Written in UTF-8, as a client sending SMTPUTF8 writes its headers.
        socket.write(Buffer.from(`${head}${header}\r\n\r\nhello\r\n.\r\n`, 'utf8'));
        return reply();
      };
      const misspelt = await send('X-Tegami-Kategorie-Ü: booking');
      assert.match(misspelt, /^[\x20-\x7e]*$/, `printable ASCII: ${JSON.stringify(misspelt)}`);
      assert.match(
        misspelt,
        /^550 5\.6\.0 X-Tegami-Kategorie-\\u00dc is not a header Tegami reads/,
      );
      const refusedByApi = await send('X-Größe: 3');
      assert.match(
        refusedByApi,
        /^[\x20-\x7e]*$/,
        `printable ASCII: ${JSON.stringify(refusedByApi)}`,
      );
      assert.match(
        refusedByApi,
        /^550 5\.6\.0 .*headers\.X-Gr\\u00f6\\u00dfe is not a valid header name/,
      );
    } finally {
      socket.destroy();
    }
  });

  test('one Message-ID: resent to the same recipients it is stored once; to others (a relay splitting the recipients) it is a message of its own; with other content, 550', async () => {
    const mail = {
      from: 'bookings@hotel.example',
      subject: 'Split',
      text: 'x',
      // Longer than an Idempotency-Key may be: it still keeps the mail from being stored twice.
      messageId: `<${'m'.repeat(300)}@hotel.example>`,
    };
    const first = await transport().sendMail({ ...mail, to: 'split-1@example.jp' });
    const again = await transport().sendMail({ ...mail, to: 'split-1@example.jp' });
    assert.equal(byMessageIdOf(again.response), byMessageIdOf(first.response));
    const other = await transport().sendMail({ ...mail, to: 'split-2@example.jp' });
    assert.match(other.response, /^250 /);
    assert.notEqual(byMessageIdOf(other.response), byMessageIdOf(first.response));
    const changed = await smtpError(
      transport().sendMail({ ...mail, to: 'split-1@example.jp', text: 'changed' }),
    );
    // Sent again it would be refused again: not a 4xx the client retries for days.
    assert.equal(changed.responseCode, 550);
    assert.match(changed.response ?? '', /Message-ID/);
  });

  test('a mail over 10 MiB is read to its end and refused (552), and so is MIME that cannot be parsed (554), on a session that goes on', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    try {
      assert.match(await reply(), /^220 /);
      await command('EHLO test.example');
      const plain = Buffer.from(`\0apikey\0${TEST_KEY}`).toString('base64');
      assert.match(await command(`AUTH PLAIN ${plain}`), /^235 /);
      const send = async (mail: string) => {
        assert.match(await command('MAIL FROM:<bookings@hotel.example>'), /^250 /);
        assert.match(await command('RCPT TO:<guest@example.jp>'), /^250 /);
        assert.match(await command('DATA'), /^354 /);
        socket.write(`${mail}\r\n.\r\n`);
        return reply();
      };
      const head = 'From: bookings@hotel.example\r\nTo: guest@example.jp\r\nSubject: s\r\n';
      const line = `${'A'.repeat(76)}\r\n`;
      const tooBig = `${head}\r\n${line.repeat(Math.ceil((12 * 1024 * 1024) / line.length))}`;
      assert.match(await send(tooBig), /^552 5\.3\.4 /);
      // A header longer than the parser takes: it used to stop reading the mail mid-way, and
      // the client waited for the socket's timeout.
      const longTo = Array.from({ length: 100_000 }, (_, i) => `g${i}@example.jp`).join(',\r\n ');
      const unparsable = `${head.replace('To: guest@example.jp', `To: guest@example.jp,\r\n ${longTo}`)}\r\nx`;
      assert.match(await send(unparsable), /^554 5\.6\.0 the mail cannot be parsed/);
      const parts = Array.from(
        { length: 2000 },
        (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`,
      ).join('');
      const manyParts = `${head}Content-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--`;
      assert.match(await send(manyParts), /^554 5\.6\.0 /);
      assert.match(await send(`${head}\r\nstill here`), /^250 2\.0\.0 OK: queued as msg_/);
    } finally {
      socket.destroy();
    }
  });

  test('a connection gets three tries at AUTH, then 421 and is closed', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    try {
      assert.match(await reply(), /^220 /);
      await command('EHLO test.example');
      const auth = (key: string) =>
        command(`AUTH PLAIN ${Buffer.from(`\0apikey\0${key}`).toString('base64')}`);
      assert.match(await auth('tgm_wrong_1'), /^535 5\.7\.8 /);
      assert.match(await auth('tgm_wrong_2'), /^535 5\.7\.8 /);
      assert.match(await auth('tgm_wrong_3'), /^421 4\.7\.0 too many failed authentications/);
      assert.equal(await reply(), '(closed)');
    } finally {
      socket.destroy();
    }
  });

  test('without AUTH nothing is taken', async () => {
    const anonymous = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false });
    const refused = await smtpError(anonymous.sendMail(plainMail));
    assert.equal(refused.responseCode, 530);
  });

  test('STARTTLS is not offered without a certificate', async () => {
    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.startsWith('220') && !text.includes('EHLO')) {
          if (!text.includes('\r\n250 ')) socket.write('EHLO test.example\r\n');
        }
        if (/\r\n250 /.test(text)) {
          socket.end('QUIT\r\n');
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    assert.match(greeting, /AUTH PLAIN LOGIN/);
    assert.doesNotMatch(greeting, /STARTTLS/);
  });
});

/**
 * A refused AUTH is logged with its user name (which client is misconfigured), never with a key:
 * an application moving from SendGrid's SMTP may swap the user name (`apikey` there) and the
 * password, or paste the key in a form the API takes (`SG.<key>`, `Bearer <key>`).
 */
describe(`SMTP AUTH refusals in the log (${TEST_ENGINE})`, () => {
  test('a key given as the user name, in any form, is not logged; a plain user name is', async () => {
    let logged = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    });
    const tegami = await startTestService(
      { TEGAMI_SMTP_PORT: '0', TEGAMI_TEST_NO_WORKER: '1' },
      { logger: pino({ level: 'info' }, sink), housekeeping: false },
    );
    try {
      const unit = await createUnitWithKey(tegami, 'smtp-log');
      // An active key of another shape than tgm_…: a bootstrap key set in an earlier configuration.
      const earlierBootstrap = 'earlier-bootstrap-key-0123456789';
      await ensureBootstrapKey(
        new SqlApiKeyStore(tegami.service.database),
        earlierBootstrap,
        START_ACTORS.bootstrapKey,
      );
      // A short one: only a look-up among the active keys tells it from a user name.
      const shortBootstrap = 'k3y-0f-9';
      await ensureBootstrapKey(
        new SqlApiKeyStore(tegami.service.database),
        shortBootstrap,
        START_ACTORS.bootstrapKey,
      );
      const sendGridKey = 'SG.aPpLiCaTiOn-KeY.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
      // Keys of some other service, or a key revoked since: key-shaped, but not active here.
      const otherToken = 'q7GxVb2LmN9pR4sT8wYz1cKd';
      const hexToken = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b';
      const givenAsUserName = [
        unit.key,
        `SG.${unit.key}`,
        `Bearer ${unit.key}`,
        ` ${unit.key} `,
        `${unit.key.slice(0, 4).toUpperCase()}${unit.key.slice(4)}`,
        earlierBootstrap,
        `SG.${earlierBootstrap}`,
        sendGridKey,
        // Wrapped, or inside other text.
        `apikey:${sendGridKey}`,
        `"${sendGridKey}"`,
        `<${sendGridKey}>`,
        `the key is ${sendGridKey}, as SendGrid gave it`,
        `apikey:${earlierBootstrap}`,
        `<${unit.key}>`,
        shortBootstrap,
        `apikey:${shortBootstrap}`,
        `"${shortBootstrap}"`,
        otherToken,
        `apikey:${otherToken}`,
        `<${hexToken}>`,
      ];
      const plainUserNames = ['apikey', 'shop-mailer', 'jane.doe+bookings@hotel.example'];
      const port = tegami.service.smtp?.port ?? 0;
      const refusals = async (userNames: string[]) => {
        for (const userName of userNames) {
          const { socket, reply, command } = openSmtpSession(port);
          try {
            assert.match(await reply(), /^220 /);
            await command('EHLO test.example');
            const plain = Buffer.from(`\0${userName}\0not-a-key`).toString('base64');
            assert.match(await command(`AUTH PLAIN ${plain}`), /^535 5\.7\.8 /);
          } finally {
            socket.destroy();
          }
        }
      };
      await refusals([...givenAsUserName, ...plainUserNames]);
      const lines = () =>
        logged
          .split('\n')
          .filter((l) => l.includes('SMTP AUTH refused'))
          .map((l) => JSON.parse(l) as { username?: string });
      await waitFor(
        async () => lines().length === givenAsUserName.length + plainUserNames.length,
        'every refusal logged',
      );
      assert.deepEqual(
        lines().map((l) => l.username),
        [...givenAsUserName.map(() => '(an API key)'), ...plainUserNames],
      );
      const keys = [unit.key, unit.key.slice(4), earlierBootstrap, sendGridKey.slice(3)];
      for (const secret of [...keys, otherToken, hexToken]) {
        assert.ok(!logged.includes(secret), `the log holds no key (${secret.slice(0, 8)}…)`);
      }
    } finally {
      await tegami.stop();
    }
  });
});

describe(`SMTP connections from one address (${TEST_ENGINE})`, () => {
  /** Opens a connection from `localAddress` and resolves with the server's first reply line. */
  const greeting = (port: number, localAddress: string) =>
    new Promise<{ line: string; close: () => void }>((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress });
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('\r\n')) {
          resolve({ line: text.split('\r\n')[0] ?? '', close: () => socket.destroy() });
        }
      });
      socket.on('error', reject);
    });

  test('past TEGAMI_SMTP_MAX_CLIENTS_PER_ADDRESS, one address is refused (421) and others are not', async () => {
    const tegami = await startTestService({
      TEGAMI_SMTP_PORT: '0',
      TEGAMI_SMTP_MAX_CLIENTS_PER_ADDRESS: '2',
      TEGAMI_TEST_NO_WORKER: '1',
    });
    const port = tegami.service.smtp?.port ?? 0;
    try {
      const first = await greeting(port, '127.0.0.1');
      const second = await greeting(port, '127.0.0.1');
      assert.match(first.line, /^220 /);
      assert.match(second.line, /^220 /);
      const third = await greeting(port, '127.0.0.1');
      assert.match(third.line, /^421 4\.7\.0 too many connections from your address/);
      third.close();
      // Another client is not shut out by the first one's idle connections.
      const other = await greeting(port, '127.0.0.2');
      assert.match(other.line, /^220 /);
      other.close();
      // A place freed is a place again.
      first.close();
      await waitFor(async () => {
        const again = await greeting(port, '127.0.0.1');
        again.close();
        return /^220 /.test(again.line);
      }, 'a connection from the first address once one of its own closed');
      second.close();
    } finally {
      await tegami.stop();
    }
  });
});

describe(`SMTP deadlines for slow and idle clients (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let port = 0;
  const authPlain = `AUTH PLAIN ${Buffer.from(`\0apikey\0${TEST_KEY}`).toString('base64')}`;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  before(async () => {
    tegami = await startTestService({
      TEGAMI_SMTP_PORT: '0',
      TEGAMI_SMTP_AUTH_TIMEOUT_S: '1',
      TEGAMI_SMTP_DATA_TIMEOUT_S: '1',
      TEGAMI_TEST_NO_WORKER: '1',
    });
    port = tegami.service.smtp?.port ?? 0;
  });
  after(async () => {
    await tegami.stop();
  });

  test('a connection that does not authenticate in time is answered 421 4.4.2 and closed', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    try {
      const opened = Date.now();
      assert.match(await reply(), /^220 /);
      assert.match(await command('EHLO test.example'), /^250/);
      assert.match(await reply(), /^421 4\.4\.2 authentication took too long/);
      assert.equal(await reply(), '(closed)');
      const held = Date.now() - opened;
      // The deadline (1 s), not the idle timeout (60 s).
      assert.ok(held >= 900 && held < 10_000, `closed after ${held} ms`);
    } finally {
      socket.destroy();
    }
  });

  test('a refused AUTH does not restart the time to authenticate', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    try {
      const opened = Date.now();
      assert.match(await reply(), /^220 /);
      assert.match(await command('EHLO test.example'), /^250/);
      await sleep(300);
      const wrong = `AUTH PLAIN ${Buffer.from('\0apikey\0tgm_not_a_key').toString('base64')}`;
      assert.match(await command(wrong), /^535 /);
      // The deadline is paused while a key is checked and armed again for what is left of it.
      assert.match(await reply(), /^421 4\.4\.2 authentication took too long/);
      const held = Date.now() - opened;
      assert.ok(held >= 900 && held < 10_000, `closed after ${held} ms`);
    } finally {
      socket.destroy();
    }
  });

  test('NOOP now and then does not keep a connection that does not authenticate', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    try {
      assert.match(await reply(), /^220 /);
      assert.match(await command('EHLO test.example'), /^250/);
      let answered = 0;
      let last = '';
      // Fewer commands than smtp-server's own limit before AUTH (10): the deadline closes it.
      for (;;) {
        last = await command('NOOP');
        if (!last.startsWith('250')) break;
        answered++;
        await sleep(200);
      }
      assert.ok(answered >= 2, `${answered} NOOPs answered before the deadline`);
      assert.match(last, /^421 4\.4\.2 /);
      assert.equal(await reply(), '(closed)');
    } finally {
      socket.destroy();
    }
  });

  test('a DATA dribbled in slower than the deadline is dropped (421 4.4.2): nothing is stored', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    let dribble: NodeJS.Timeout | undefined;
    try {
      assert.match(await reply(), /^220 /);
      await command('EHLO test.example');
      assert.match(await command(authPlain), /^235 /);
      assert.match(await command('MAIL FROM:<bookings@hotel.example>'), /^250 /);
      assert.match(await command('RCPT TO:<dribble@example.jp>'), /^250 /);
      assert.match(await command('DATA'), /^354 /);
      const started = Date.now();
      socket.write('From: bookings@hotel.example\r\nTo: dribble@example.jp\r\nSubject: s\r\n\r\n');
      // A byte every 200 ms: each restarts the idle timeout, none brings the end nearer.
      dribble = setInterval(() => socket.write('x'), 200);
      assert.match(await reply(), /^421 4\.4\.2 the mail took too long to arrive/);
      const took = Date.now() - started;
      assert.ok(took >= 900 && took < 10_000, `dropped after ${took} ms`);
      clearInterval(dribble);
      // The rest of the mail, late: it is not read any more.
      socket.write('\r\n.\r\n');
      assert.equal(await reply(), '(closed)');
      await sleep(300);
      const stored = await tegami.request('GET', '/v1/messages?recipient=dribble@example.jp');
      assert.equal(stored.status, 200);
      assert.deepEqual(stored.body.data, []);
    } finally {
      clearInterval(dribble);
      socket.destroy();
    }
  });

  test('a client that authenticates is not held to the AUTH deadline, and nodemailer sends as ever', async () => {
    const { socket, reply, command } = openSmtpSession(port);
    try {
      assert.match(await reply(), /^220 /);
      await command('EHLO test.example');
      assert.match(await command(authPlain), /^235 /);
      await sleep(1500);
      assert.match(await command('MAIL FROM:<bookings@hotel.example>'), /^250 /);
      assert.match(await command('RCPT TO:<patient@example.jp>'), /^250 /);
      assert.match(await command('DATA'), /^354 /);
      socket.write(
        'From: bookings@hotel.example\r\nTo: patient@example.jp\r\nSubject: s\r\n\r\nx\r\n.\r\n',
      );
      assert.match(await reply(), /^250 2\.0\.0 OK: queued as msg_/);
    } finally {
      socket.destroy();
    }
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      auth: { user: 'apikey', pass: TEST_KEY },
    });
    const info = await transport.sendMail({
      from: 'bookings@hotel.example',
      to: 'guest@example.jp',
      subject: 'as ever',
      text: 't',
      attachments: [{ filename: 'big.bin', content: Buffer.alloc(2 * 1024 * 1024, 7) }],
    });
    assert.match(info.response, /^250 2\.0\.0 OK: queued as msg_/);
  });
});

describe(`SMTP submission over the unit's sending limit (${TEST_ENGINE})`, () => {
  test('is answered 451 (try again later), as the API answers 429', async () => {
    const tegami = await startTestService({
      TEGAMI_SMTP_PORT: '0',
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_UNIT_RATE_LIMIT_PER_MIN: '1',
    });
    try {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: tegami.service.smtp?.port ?? 0,
        secure: false,
        auth: { user: 'apikey', pass: TEST_KEY },
      });
      const mail = { from: 'shop@example.com', to: 'guest@example.jp', subject: 's', text: 't' };
      // The limit counts per clock minute: both mails in the same one (a new minute between
      // them let the second through).
      const left = RATE_LIMIT_WINDOW_MS - (Date.now() % RATE_LIMIT_WINDOW_MS);
      if (left < 15_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
      assert.match((await transport.sendMail(mail)).response, /^250 /);
      const error = await transport.sendMail(mail).then(
        () => assert.fail('the second mail of the minute was accepted'),
        (e: { responseCode?: number; response?: string }) => e,
      );
      assert.equal(error.responseCode, 451);
      assert.match(error.response ?? '', /4\.7\.1 .*per minute/);
    } finally {
      await tegami.stop();
    }
  });
});

describe(`SMTP submission over STARTTLS, and its settings (${TEST_ENGINE})`, () => {
  const folder = mkdtempSync(join(tmpdir(), 'tegami-smtp-tls-'));
  const certFile = join(folder, 'cert.pem');
  const keyFile = join(folder, 'key.pem');
  let haveOpenssl = true;
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
  } catch {
    haveOpenssl = false;
  }
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('a certificate makes STARTTLS available, and mail goes through it', {
    skip: haveOpenssl ? false : 'needs openssl to make a certificate',
  }, async () => {
    const tegami = await startTestService({
      TEGAMI_SMTP_PORT: '0',
      TEGAMI_SMTP_TLS_CERT_FILE: certFile,
      TEGAMI_SMTP_TLS_KEY_FILE: keyFile,
      TEGAMI_TEST_NO_WORKER: '1',
    });
    try {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: tegami.service.smtp?.port ?? 0,
        secure: false,
        requireTLS: true,
        tls: { rejectUnauthorized: false },
        auth: { user: 'apikey', pass: TEST_KEY },
      });
      const info = await transport.sendMail({
        from: 'bookings@hotel.example',
        to: 'guest@example.jp',
        subject: 'over TLS',
        text: 't',
      });
      assert.match(info.response, /^250 /);
    } finally {
      await tegami.stop();
    }
  });

  test('settings that cannot work stop the start, naming the variable', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ TEGAMI_SMTP_PORT: '70000' }, /TEGAMI_SMTP_PORT/],
      [
        { TEGAMI_SMTP_PORT: '2525', TEGAMI_SMTP_TLS_CERT_FILE: certFile },
        /TEGAMI_SMTP_TLS_KEY_FILE/,
      ],
      [{ TEGAMI_SMTP_PORT: '2525', TEGAMI_SMTP_TLS_IMPLICIT: 'true' }, /TEGAMI_SMTP_TLS_IMPLICIT/],
      [
        { TEGAMI_SMTP_PORT: '2525', TEGAMI_SMTP_TLS_CERT_FILE: join(folder, 'missing.pem') },
        /TEGAMI_SMTP_TLS_CERT_FILE: cannot read/,
      ],
      [{ TEGAMI_SMTP_PORT: '2525', TEGAMI_SMTP_AUTH_TIMEOUT_S: '0' }, /TEGAMI_SMTP_AUTH_TIMEOUT_S/],
      [
        { TEGAMI_SMTP_PORT: '2525', TEGAMI_SMTP_AUTH_TIMEOUT_S: '1.5' },
        /TEGAMI_SMTP_AUTH_TIMEOUT_S: "1.5" is not a whole number/,
      ],
      [
        { TEGAMI_SMTP_PORT: '2525', TEGAMI_SMTP_DATA_TIMEOUT_S: '3601' },
        /TEGAMI_SMTP_DATA_TIMEOUT_S: 3601 is out of range \(1 to 3600\)/,
      ],
      [
        { TEGAMI_SMTP_PORT: '2525', TEGAMI_SMTP_DATA_TIMEOUT_S: 'soon' },
        /TEGAMI_SMTP_DATA_TIMEOUT_S/,
      ],
    ];
    for (const [env, expected] of bad) assert.throws(() => loadConfig(env), expected);
    if (haveOpenssl) {
      assert.match(readFileSync(certFile, 'utf8'), /BEGIN CERTIFICATE/);
      const config = loadConfig({
        TEGAMI_SMTP_PORT: '2525',
        TEGAMI_SMTP_TLS_CERT_FILE: certFile,
        TEGAMI_SMTP_TLS_KEY_FILE: keyFile,
      });
      assert.equal(config.smtp?.port, 2525);
      assert.ok(config.smtp?.tls);
    }
    const defaults = loadConfig({ TEGAMI_SMTP_PORT: '2525' }).smtp;
    assert.equal(defaults?.authTimeoutMs, 20_000);
    assert.equal(defaults?.dataTimeoutMs, 300_000);
    assert.equal(loadConfig({}).smtp, null, 'off unless TEGAMI_SMTP_PORT is set');
  });
});
