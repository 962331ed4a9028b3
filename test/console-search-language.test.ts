// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backPath } from '../src/console/back.ts';
import { escapeHtml, html } from '../src/console/html.ts';
import { csvCell } from '../src/console/pages/messages.ts';
import {
  addTerm,
  parseSearch,
  SEARCH_KEYS,
  searchWordsOf,
  tokenize,
} from '../src/console/search-language.ts';
import { queryToJson } from '../src/domain/operations/message-query.ts';
import { UNSENT_REASONS } from '../src/domain/operations/unsent.ts';

describe("the console's search language", () => {
  test('key:value terms become the query the API uses', () => {
    const { query, errors } = parseSearch(
      'to:guest@example.jp from:Hotel@Example.jp status:failed unit:hotel category:booking meta.booking_id:B-1 provider:sendgrid error:http_400 event:bounced after:2026-12-01 before:2026-12-02T10:00',
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(query, {
      recipient: 'guest@example.jp',
      from: 'Hotel@Example.jp',
      status: 'failed',
      unit: 'hotel',
      category: 'booking',
      metadata: [['booking_id', 'B-1']],
      provider: 'sendgrid',
      errorClass: 'http_400',
      deliveryStatus: 'bounced',
      createdAfter: Date.parse('2026-12-01T00:00:00Z'),
      createdBefore: Date.parse('2026-12-02T10:00:00Z'),
    });
  });

  test('bare words: an address searches recipients, other words the subject; quotes keep spaces', () => {
    assert.deepEqual(parseSearch('guest@example.jp ご予約 確認').query, {
      recipient: 'guest@example.jp',
      subject: 'ご予約 確認',
    });
    assert.deepEqual(parseSearch('subject:"spring offer" reason:failed').query, {
      subject: 'spring offer',
      reason: 'failed',
    });
    assert.deepEqual(tokenize('-category:"a b" id:msg_1'), [
      { key: 'category', value: 'a b', negated: true },
      { key: 'id', value: 'msg_1', negated: false },
    ]);
    assert.equal(parseSearch('id:msg_123').id, 'msg_123');
    // Another id is a provider's (SendGrid's X-Message-Id or sg_message_id): a filter, not a look-up.
    const sendgrid = parseSearch('id:14c5d75ce93.filter0001.16648 status:sent');
    assert.equal(sendgrid.id, undefined);
    assert.deepEqual(sendgrid.query, {
      providerMessageId: '14c5d75ce93.filter0001.16648',
      status: 'sent',
    });
    assert.deepEqual(parseSearch('-id:14c5d75ce93').errors, ['-id: cannot be excluded']);
  });

  test('- excludes a term', () => {
    assert.deepEqual(parseSearch('status:failed -category:newsletter -to:@example.com').query, {
      status: 'failed',
      not: { category: 'newsletter', recipient: '@example.com' },
    });
  });

  test("to: that is no whole address or @domain is text of a recipient's address or name", () => {
    assert.deepEqual(parseSearch('to:tanaka').query, { recipientText: 'tanaka' });
    assert.deepEqual(parseSearch('to:"Taro Tanaka" -to:jiro').query, {
      recipientText: 'Taro Tanaka',
      not: { recipientText: 'jiro' },
    });
    // An @ with no whole address around it is text too: looked up whole, it would find nothing.
    assert.deepEqual(parseSearch('to:tanaka@').query, { recipientText: 'tanaka@' });
    assert.deepEqual(parseSearch('to:tanaka@gmail').query, { recipientText: 'tanaka@gmail' });
    assert.deepEqual(parseSearch('tanaka@').query, { recipientText: 'tanaka@' }, 'a bare word');
    assert.deepEqual(parseSearch('to:" Tanaka@Gmail.com "').query, {
      recipient: 'Tanaka@Gmail.com',
    });
    assert.deepEqual(parseSearch('to:@gmail.com').query, { recipient: '@gmail.com' });
  });

  test('mistakes are named, never guessed', () => {
    assert.match(parseSearch('colour:red').errors[0] ?? '', /is not a search key/);
    assert.match(parseSearch('status:lost').errors[0] ?? '', /status: one of/);
    assert.match(parseSearch('after:yesterday').errors[0] ?? '', /after: a date/);
    assert.match(parseSearch('to:@a@b').errors[0] ?? '', /to: an address/);
    assert.match(parseSearch('to:@').errors[0] ?? '', /to: an address/);
    assert.match(parseSearch('-unit:hotel').errors[0] ?? '', /cannot be excluded/);
    assert.match(parseSearch('status:sent status:failed').errors[0] ?? '', /once/);
  });

  test('a key with nothing after it needs a value, whichever key, and searches nothing else', () => {
    // At the end, before another term, quoted empty, or excluded: never a subject word.
    for (const key of SEARCH_KEYS) {
      for (const text of [`${key}:`, `${key}: status:sent`, `${key}:""`, `-${key}:`]) {
        const { errors, query } = parseSearch(text);
        assert.deepEqual(errors, [`${key}: needs a value`], text);
        assert.equal(query.subject, undefined, `${text}: no subject search`);
      }
    }
    assert.deepEqual(parseSearch('meta.booking_id:').errors, ['meta.booking_id: needs a value']);
    assert.deepEqual(parseSearch('meta.:').errors, ['meta.KEY:VALUE needs a key']);
    assert.deepEqual(tokenize('error: http_400'), [
      { key: 'error', value: '', negated: false },
      { key: '', value: 'http_400', negated: false },
    ]);
    assert.deepEqual(tokenize('Status:"'), [{ key: 'status', value: '', negated: false }]);
    assert.deepEqual(parseSearch('reason:nope error:').errors, [
      `reason: one of ${UNSENT_REASONS.join(', ')}`,
      'error: needs a value',
    ]);
  });

  test('a word ending in a colon that is no key is a word of the subject, as pasted from one', () => {
    // (Keys are read in any case, and subjects searched so: the word is kept lower-cased.)
    assert.deepEqual(parseSearch('Re: booking'), {
      query: { subject: 're: booking' },
      terms: [
        { key: 're', value: '', negated: false },
        { key: '', value: 'booking', negated: false },
      ],
      errors: [],
    });
    assert.deepEqual(parseSearch('Confirmed: -Cancelled:').errors, []);
    assert.equal(parseSearch('Confirmed: -Cancelled:').query.subject, 'confirmed:');
    // With a value it is a key, and one that is none is named as such.
    assert.match(parseSearch('colour:red').errors[0] ?? '', /^colour: is not a search key \(/);
    // Quoted, it is text of the subject; a lone "-" or ":" is no key either.
    assert.deepEqual(parseSearch('"Re: booking"'), {
      query: { subject: 'Re: booking' },
      terms: [{ key: '', value: 'Re: booking', negated: false }],
      errors: [],
    });
    assert.deepEqual(tokenize('- :'), [
      { key: '', value: '-', negated: false },
      { key: '', value: ':', negated: false },
    ]);
  });

  test('a clicked value is added as a filter, quoted when needed', () => {
    assert.equal(addTerm('', 'to', 'a@example.jp'), 'to:a@example.jp');
    assert.equal(
      addTerm('status:failed', 'category', 'spring sale'),
      'status:failed category:"spring sale"',
    );
    assert.deepEqual(parseSearch(addTerm('x', 'meta.k', 'v w')).query.metadata, [['k', 'v w']]);
  });

  test('a clicked value replaces the same key already in the search (a key may be given once)', () => {
    assert.equal(
      addTerm('provider:sendgrid status:failed', 'provider', 'sendgrid'),
      'status:failed provider:sendgrid',
    );
    assert.equal(
      addTerm('unit:"Hotel Sakura" -provider:x', 'unit', 'Shop'),
      '-provider:x unit:Shop',
    );
    assert.equal(addTerm('metaxk:1 meta.k:2', 'meta.k', '3'), 'metaxk:1 meta.k:3');
    // A bare address is a to: term, and keys are read in any case.
    assert.equal(addTerm('guest@example.jp', 'to', 'other@example.jp'), 'to:other@example.jp');
    assert.equal(addTerm('Provider:sendgrid', 'provider', 'sandbox'), 'provider:sandbox');
    assert.equal(
      addTerm('booking guest@example.jp', 'status', 'failed'),
      'booking guest@example.jp status:failed',
    );
    for (const text of ['provider:sendgrid', 'reason:failed unit:"a b"']) {
      for (const [key, value] of [
        ['provider', 'sendgrid'],
        ['reason', 'failed'],
        ['unit', 'a b'],
      ] as const) {
        assert.deepEqual(parseSearch(addTerm(text, key, value)).errors, [], `${text} + ${key}`);
      }
    }
  });

  test('templates escape every value; CSV cells cannot start a formula', () => {
    const evil = '<script>alert("x")</script>';
    assert.equal(
      html`<p title="${evil}">${evil}</p>`.text,
      `<p title="${escapeHtml(evil)}">${escapeHtml(evil)}</p>`,
    );
    assert.doesNotMatch(html`${evil}`.text, /<script/);
    assert.equal(csvCell('=1+1'), `"'=1+1"`);
    assert.equal(csvCell('@SUM(A1)'), `"'@SUM(A1)"`);
    assert.equal(csvCell('-2'), `"'-2"`);
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('ご予約'), '"ご予約"');
  });

  test('a filter as the API keeps it reads back as search words, and means the same', () => {
    const typed =
      'reason:failed unit:hotel to:@example.jp category:booking meta.booking_id:B-1 error:http_400 subject:"spring sale" after:2026-12-01 -error:suppressed -category:news recovery:rec_1';
    const { query, errors } = parseSearch(typed);
    assert.deepEqual(errors, []);
    assert.equal(query.recoveryId, 'rec_1');
    const { text, rest } = searchWordsOf(queryToJson(query));
    assert.deepEqual(rest, {});
    assert.deepEqual(parseSearch(text).query, query);
    assert.match(text, /^reason:failed unit:hotel to:@example\.jp /);
    assert.match(text, / -category:news -error:suppressed$/);
    // What the language cannot say is left as it is.
    assert.deepEqual(
      searchWordsOf({ status: 'failed', failed_after: '2026-12-01T00:00:00.000Z' }),
      {
        text: 'status:failed',
        rest: { failed_after: '2026-12-01T00:00:00.000Z' },
      },
    );
    assert.deepEqual(parseSearch('-recovery:rec_1').errors, ['-recovery: cannot be excluded']);
  });

  test("a page's way back is a path of the console, nothing else", () => {
    assert.equal(
      backPath('/console/unsent?q=reason%3Afailed'),
      '/console/unsent?q=reason%3Afailed',
    );
    assert.equal(backPath('/console'), '/console');
    for (const bad of [
      'https://evil.example/console',
      '//evil.example',
      '/\\evil.example',
      '/console/../v1/messages',
      '/consolex',
      'console/unsent',
      '/console/\tx',
      '/console/ x',
      '',
      undefined,
      ['/console'],
    ]) {
      assert.equal(backPath(bad), null, String(bad));
    }
  });
});
