import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import fc from 'fast-check';
import { hasAllWords, subjectWords } from '../src/domain/operations/message-query.ts';
import { indexSubjects } from '../src/store/index.ts';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';

/**
 * The filters of `GET /v1/messages`: "which guests did not get their confirmation in the last
 * hour" is one request, not a script paging through every message.
 */
describe(`message list filters (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const ids: Record<string, string> = {};
  const list = async (query: string) => {
    const r = await tegami.request('GET', `/v1/messages?limit=500&count=true&${query}`);
    assert.equal(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.total, r.body.data.length, `${query}: total`);
    return (r.body.data as { id: string }[]).map((m) => m.id).sort();
  };
  const named = (...names: string[]) => names.map((n) => ids[n] as string).sort();

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    });
    const submit = async (name: string, overrides: Record<string, unknown>) => {
      const r = await tegami.request('POST', '/v1/messages', message(overrides));
      assert.equal(r.status, 202, JSON.stringify(r.body));
      ids[name] = r.body.id;
    };
    await submit('confirmedJp', {
      to: [{ email: 'Hanako@Example.JP', name: 'Hanako Yamada' }],
      subject: 'Your booking is confirmed',
      categories: ['booking'],
    });
    await submit('failedJp', {
      to: [{ email: 'permanent-taro@example.jp' }],
      subject: 'Your booking is confirmed',
      categories: ['booking'],
    });
    await submit('failedCom', {
      to: [{ email: 'permanent-guest@example.com', name: 'Émile Zola' }],
      subject: 'Réservation confirmée',
      categories: ['booking'],
    });
    await submit('cancelNote', {
      to: [{ email: 'guest@example.com' }],
      cc: [{ email: 'front-desk@example.jp', name: 'Front desk 100%_open' }],
      subject: 'Your booking was cancelled',
      categories: ['cancellation'],
    });
    await waitFor(async () => {
      const r = await tegami.request('GET', '/v1/messages?limit=500');
      return (r.body.data as { status: string }[]).every((m) =>
        ['sent', 'failed'].includes(m.status),
      );
    }, 'every message finished');
    // A delivery event for one recipient of one message.
    const response = await fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          event: 'delivered',
          email: 'hanako@example.jp',
          timestamp: Math.floor(Date.now() / 1000),
          sg_event_id: randomUUID(),
          tegami_message_id: ids.confirmedJp,
        },
      ]),
    });
    assert.ok(response.status < 300);
  });
  after(async () => {
    await tegami.stop();
  });

  test('recipient: an address without case, or a whole domain', async () => {
    assert.deepEqual(await list('recipient=HANAKO@example.jp'), named('confirmedJp'));
    assert.deepEqual(
      await list(`recipient=${encodeURIComponent('@EXAMPLE.jp')}`),
      named('confirmedJp', 'failedJp', 'cancelNote'),
      'to and cc recipients at the domain',
    );
    assert.deepEqual(
      await list(`recipient=${encodeURIComponent('@example.com')}`),
      named('failedCom', 'cancelNote'),
    );
    assert.deepEqual(
      await list(`recipient=${encodeURIComponent('@jp')}`),
      [],
      'a whole domain, not a suffix',
    );
  });

  test("recipient_name: text in any recipient's display name, any case; % and _ are text", async () => {
    assert.deepEqual(await list('recipient_name=yamada'), named('confirmedJp'));
    assert.deepEqual(await list('recipient_name=HANAKO%20Y'), named('confirmedJp'));
    assert.deepEqual(await list('recipient_name=desk'), named('cancelNote'), 'a cc recipient');
    assert.deepEqual(await list(`recipient_name=${encodeURIComponent('%_')}`), named('cancelNote'));
    assert.deepEqual(await list(`recipient_name=${encodeURIComponent('o%y')}`), []);
    assert.deepEqual(await list('recipient_name=yamada&status=cancelled'), []);
    // A capital beyond ASCII, as typed and with the rest in capitals: SQLite's lower() leaves É.
    assert.deepEqual(
      await list(`recipient_name=${encodeURIComponent('Émile')}`),
      named('failedCom'),
    );
    assert.deepEqual(
      await list(`recipient_name=${encodeURIComponent('ÉMILE ZOLA')}`),
      named('failedCom'),
    );
  });

  test('provider, error class and dead-letter time of the last attempt', async () => {
    assert.deepEqual(await list('error_class=http_400'), named('failedJp', 'failedCom'));
    assert.deepEqual(await list('provider=test&status=sent').then((l) => l.length), 2);
    assert.deepEqual(await list('provider=sendgrid'), []);
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    assert.deepEqual(
      await list(`failed_after=${hourAgo}&category=booking`),
      named('failedJp', 'failedCom'),
      '"which guests did not get their confirmation in the last hour", in one request',
    );
    assert.deepEqual(await list(`failed_before=${hourAgo}`), []);
    assert.deepEqual(await list(`updated_before=${hourAgo}`), []);
    assert.equal((await list(`updated_after=${hourAgo}`)).length, 4);
  });

  test('delivery status of a recipient; none: no event yet', async () => {
    assert.deepEqual(await list('delivery_status=delivered'), named('confirmedJp'));
    assert.deepEqual(
      await list('delivery_status=none'),
      named('failedJp', 'failedCom', 'cancelNote'),
    );
    assert.deepEqual(await list('delivery_status=bounced'), []);
  });

  test('subject words, found the same before and after the word index has them', async () => {
    const checks = async () => {
      assert.deepEqual(await list('subject=booking+CONFIRMED'), named('confirmedJp', 'failedJp'));
      assert.deepEqual(await list('subject=book'), [], 'whole words only');
      assert.deepEqual(await list('subject=reservation'), named('failedCom'), 'accents folded');
      assert.deepEqual(await list('subject=cancelled&category=cancellation'), named('cancelNote'));
    };
    await checks();
    // Index everything now (the job indexes messages 10 s old and older), then search again.
    while ((await indexSubjects(tegami.service.database, Date.now() + 60_000)) > 0);
    await checks();
  });

  test('bad filters are a 400 naming the field, and change nothing', async () => {
    for (const [query, field] of [
      ['recipient=%40', 'querystring.recipient'],
      ['delivery_status=lost', 'querystring.delivery_status'],
      ['failed_after=yesterday', 'querystring.failed_after'],
      ['subject=%21%21%21', 'querystring.subject'],
      ['count=yes', 'querystring.count'],
      ['reason=failed', 'querystring.reason'],
      ['recipient_name=%20', 'querystring.recipient_name'],
    ] as const) {
      const r = await tegami.request('GET', `/v1/messages?${query}`);
      assert.equal(r.status, 400, `${query}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.ok(
        JSON.stringify(r.body.error.details).includes(field.replace('querystring.', '')),
        `${query}: ${JSON.stringify(r.body.error.details)}`,
      );
    }
  });
});

describe('subject words', () => {
  test('a subject always has its own words, whatever the case', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (subject) => {
        const words = subjectWords(subject);
        assert.ok(hasAllWords(subject, words));
        assert.ok(hasAllWords(subject.toUpperCase(), subjectWords(subject.toUpperCase())));
      }),
    );
    assert.deepEqual(subjectWords('Ihre Buchung #12345 – bestätigt!'), [
      'ihre',
      'buchung',
      '12345',
      'bestatigt',
    ]);
    assert.deepEqual(subjectWords('ご予約が確定しました'), ['ご予約が確定しました']);
  });

  // Subjects as Tegami's users write them: Latin with accents, Japanese, full-width forms. (For
  // scripts SQLite's Unicode 6.1 tables fold differently, such as Greek accents or Cherokee, a
  // message may match differently in the seconds before the index reaches it.)
  const REALISTIC = [
    ...'abcxyzABCXYZ0123456789 -.,!?#$/()@_',
    ...'éèêëàâäôöûüçñßÉÀÖÜÇÑœæ',
    ...'ご予約確定しましたホテルのレストラン。、「」ー',
    ...'ＡＢａｂ０１ｶﾞ',
    '\t',
  ];

  test("the words are the SQLite word index's: its search finds a subject by them", () => {
    // The messages not indexed yet are searched with subjectWords(); indexed ones with FTS5.
    // Both must agree, or a message would change answers when the index reaches it.
    const sqlite = new SqliteDatabase(':memory:');
    sqlite.exec(
      "create virtual table t using fts5(subject, tokenize = 'unicode61 remove_diacritics 2')",
    );
    const insert = sqlite.prepare('insert into t (rowid, subject) values (?, ?)');
    const find = sqlite.prepare('select rowid from t where t match ? and rowid = ?');
    let row = 0;
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...REALISTIC), maxLength: 30 }),
        fc.string({ unit: fc.constantFrom(...REALISTIC), maxLength: 8 }),
        (a, b) => {
          for (const subject of [a, b]) {
            const words = subjectWords(subject);
            if (words.length === 0) continue;
            insert.run(++row, subject);
            const match = words.map((w) => `"${w.replaceAll('"', '""')}"`).join(' ');
            assert.ok(find.get(match, row), `${JSON.stringify(subject)} by ${match}`);
          }
        },
      ),
      { numRuns: 500 },
    );
    sqlite.close();
  });
});
