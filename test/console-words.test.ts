// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  actorWords,
  attemptOutcomeText,
  attemptOutcomeWords,
  eitherOf,
  fieldProblemText,
  webhookProgress,
  wholeNumberProblem,
} from '../src/console/pages/words.ts';
import { refusal, refusalNotice } from '../src/console/refusal.ts';
import { actorLine } from '../src/domain/actor-words.ts';
import { BOOTSTRAP_KEY_NAME } from '../src/domain/api-keys.ts';
import { START_ACTORS } from '../src/domain/operations/audit.ts';

/** Html or text, as text a person reads (tags dropped). */
const read = (value: { text: string } | string) =>
  (typeof value === 'string' ? value : value.text).replace(/<[^>]+>/g, '');

/**
 * The console's one vocabulary (src/console/pages/words.ts) for what the code calls otherwise:
 * each attempt's outcome for every thing that can come after it, a status webhook posted again,
 * who did something, and what a refused form says (its fields by their labels, a number out of
 * range as out of range). The pages that use them are tested in Chromium
 * (console-plain-words.test.ts); here, every case, including the timeout that no test provider
 * makes.
 */
describe('the console’s words', () => {
  test('an attempt’s outcome, by what came after it', () => {
    const table = (['accepted', 'retryable', 'permanent', 'unknown'] as const).map((outcome) => [
      outcome,
      ...(['tried again', 'due', 'done'] as const).map((after) =>
        attemptOutcomeText(outcome, after),
      ),
    ]);
    assert.deepEqual(table, [
      ['accepted', 'taken by the provider', 'taken by the provider', 'taken by the provider'],
      ['retryable', 'failed, tried again', 'failed, will retry', 'failed, no more retries'],
      ['permanent', 'failed for good, then retried by hand', 'failed for good', 'failed for good'],
      [
        'unknown',
        'no answer: may have been sent',
        'no answer: may have been sent',
        'no answer: may have been sent',
      ],
    ]);
    // The API's word stays beside the words, with the provider's HTTP status when it gave one.
    assert.equal(
      read(attemptOutcomeWords('retryable', 'due', 503)),
      'failed, will retry (retryable, HTTP 503)',
    );
    assert.equal(
      read(attemptOutcomeWords('unknown', 'done', null)),
      'no answer: may have been sent (unknown)',
    );
  });

  test('a status webhook posted again by hand says so, and keeps the answer from before', () => {
    const failed = {
      status: 'failed',
      attempts: 7,
      requeuedAt: null,
      lastStatus: 500,
      lastError: 'HTTP 500: receiver down',
      // Recorded before its time was kept (migration 028): said without one.
      lastErrorAt: null,
    };
    const plain = webhookProgress(failed);
    assert.deepEqual(
      [read(plain.state), plain.posts, read(plain.answer)],
      ['failed', '7 posts', 'HTTP 500: receiver down'],
    );
    const at = Date.UTC(2026, 11, 6, 14, 2);
    const queued = webhookProgress({ ...failed, status: 'pending', attempts: 0, requeuedAt: at });
    assert.deepEqual(
      [read(queued.state), queued.posts, read(queued.answer)],
      [
        'pending: queued again 2026-12-06 14:02:00 UTC',
        '0 posts since then',
        'last error, before it was queued again: HTTP 500: receiver down',
      ],
    );
    const retrying = webhookProgress({
      ...failed,
      status: 'pending',
      attempts: 1,
      requeuedAt: at,
      lastError: 'connect ECONNREFUSED 127.0.0.1:9',
      lastStatus: null,
    });
    assert.deepEqual(
      [read(retrying.state), retrying.posts, read(retrying.answer)],
      [
        'pending: queued again 2026-12-06 14:02:00 UTC',
        '1 post since then',
        'connect ECONNREFUSED 127.0.0.1:9',
      ],
    );
    const delivered = webhookProgress({
      status: 'delivered',
      attempts: 1,
      requeuedAt: at,
      lastStatus: 200,
      lastError: null,
      lastErrorAt: null,
    });
    assert.deepEqual(
      [read(delivered.state), delivered.posts, read(delivered.answer)],
      [
        'delivered after being queued again 2026-12-06 14:02:00 UTC',
        '1 post since then',
        'HTTP 200',
      ],
    );
  });

  test('a status webhook’s last error says when it was, before or after it was queued again', () => {
    const erredAt = Date.UTC(2026, 11, 6, 13, 58, 30);
    const requeuedAt = Date.UTC(2026, 11, 6, 14, 2);
    const failed = {
      status: 'failed',
      attempts: 7,
      requeuedAt: null,
      lastStatus: 500,
      lastError: 'HTTP 500: receiver down',
      lastErrorAt: erredAt,
    };
    assert.equal(
      read(webhookProgress(failed).answer),
      'last error at 2026-12-06 13:58:30 UTC: HTTP 500: receiver down',
    );
    // Queued again by hand, not posted since: the error is the one from before, at its time.
    const queued = webhookProgress({ ...failed, status: 'pending', attempts: 0, requeuedAt });
    assert.deepEqual(
      [read(queued.state), read(queued.answer)],
      [
        'pending: queued again 2026-12-06 14:02:00 UTC',
        'last error at 2026-12-06 13:58:30 UTC, before it was queued again: HTTP 500: receiver down',
      ],
    );
    // Posted since and refused again: the new error, at its own time.
    const again = webhookProgress({
      ...failed,
      status: 'pending',
      attempts: 1,
      requeuedAt,
      lastStatus: null,
      lastError: 'connect ECONNREFUSED 127.0.0.1:9',
      lastErrorAt: requeuedAt + 5_000,
    });
    assert.equal(
      read(again.answer),
      'last error at 2026-12-06 14:02:05 UTC: connect ECONNREFUSED 127.0.0.1:9',
    );
    // An answer without an error has no error time to say, whatever the row holds.
    const delivered = webhookProgress({
      ...failed,
      status: 'delivered',
      lastStatus: 200,
      lastError: null,
    });
    assert.equal(read(delivered.answer), 'HTTP 200');
  });

  test('who did something: a name, then what it is', () => {
    // One wording in the console and in tegami audit and tegami recoveries (actorLine).
    const said = (type: 'key' | 'cli' | 'console', id: string, name: string | null) => {
      const line = actorLine({ type, id, name });
      assert.equal(read(actorWords({ type, id, name })), line);
      return line;
    };
    assert.equal(
      said('key', 'key_01', BOOTSTRAP_KEY_NAME),
      'bootstrap · API key from TEGAMI_BOOTSTRAP_API_KEY',
    );
    assert.equal(said('key', 'key_02', 'hotel app'), 'hotel app · API key');
    assert.equal(said('key', 'key_03', null), 'key_03 · API key');
    assert.equal(said('console', 'usr_01', 'ops@example.jp'), 'ops@example.jp · console user');
    assert.equal(said('cli', 'deploy', null), 'deploy · command line');
    assert.equal(
      said('cli', 'TEGAMI_ADMIN_EMAIL', 'first start'),
      'first start · from TEGAMI_ADMIN_EMAIL',
    );
    // What a start did by itself: the first API key, the key from TEGAMI_BOOTSTRAP_API_KEY.
    const { firstKey, bootstrapKey } = START_ACTORS;
    assert.equal(said('cli', firstKey.id, firstKey.name), 'first start · Tegami itself');
    assert.equal(
      said('cli', bootstrapKey.id, bootstrapKey.name),
      'start · from TEGAMI_BOOTSTRAP_API_KEY',
    );
  });

  test('a refused form names its fields by their labels, not by the API’s paths', () => {
    const labels = { 'alerts.delay_s': 'Delay alert after (s)', password: 'Password' };
    assert.equal(
      fieldProblemText(labels, 'alerts.delay_s', 'must be a whole number from 1 to 2592000'),
      '“Delay alert after (s)” must be a whole number from 1 to 2,592,000.',
    );
    assert.equal(
      fieldProblemText(labels, 'password', 'must be 12 to 1024 characters'),
      '“Password” must be 12 to 1,024 characters.',
    );
    // A field the form has no label for: its last part in words, never the path.
    assert.equal(
      fieldProblemText(labels, 'alerts.unconfirmed', 'must be a whole number from 0 to 1000000000'),
      '“unconfirmed” must be a whole number from 0 to 1,000,000,000.',
    );
    // A sentence already ended is not ended twice; dates, times and settings keep their digits.
    assert.equal(
      fieldProblemText({}, 'after', 'a date like 2026-12-01 or 2026-12-01T15:00.'),
      '“after” a date like 2026-12-01 or 2026-12-01T15:00.',
    );
    assert.equal(
      fieldProblemText({ url: 'URL' }, 'url', 'is refused (TEGAMI_WEBHOOKS_TIMEOUT_MS=10000)'),
      '“URL” is refused (TEGAMI_WEBHOOKS_TIMEOUT_MS=10,000).',
    );
  });

  test('a whole number typed: none, out of range (too large is not "no whole number"), or taken', () => {
    const delay = { min: 1, max: 2_592_000, of: 'seconds', note: '30 days' };
    const said = (value: string) => wholeNumberProblem('Delay alert after (s)', value, delay);
    const wanted =
      '“Delay alert after (s)” must be a whole number of seconds from 1 to 2,592,000 (30 days)';
    assert.equal(said('soon'), `${wanted}: “soon” is not one.`);
    assert.equal(said('1.5'), `${wanted}: “1.5” is not one.`);
    assert.equal(said('-1'), `${wanted}: “-1” is not one.`);
    assert.equal(said('0'), `${wanted}: 0 is less.`);
    assert.equal(said('99999999'), `${wanted}: 99999999 is more.`);
    assert.equal(said('99999999999999999999'), `${wanted}: 99999999999999999999 is more.`);
    assert.equal(said('1'), null);
    assert.equal(said('2592000'), null);
    assert.equal(said('0300'), null);
    assert.equal(
      wholeNumberProblem('Dead letters over', `${'9'.repeat(50)}`, { min: 0, max: 10 }),
      `“Dead letters over” must be a whole number from 0 to 10: ${'9'.repeat(40)}… is more.`,
    );
    assert.equal(eitherOf(['admin', 'operator', 'viewer']), 'admin, operator or viewer');
    assert.equal(eitherOf(['high']), 'high');
  });

  test('a refusal says what is wrong, what was left undone, and which fields to type again', () => {
    assert.equal(refusalNotice(null), '');
    const one = refusal(
      'user-error',
      'A user with the address a@example.jp already exists.',
      ['email'],
      'No user was created.',
      ['Password'],
    );
    assert.equal(
      read(refusalNotice(one)).replace(/\s+/g, ' '),
      'A user with the address a@example.jp already exists. No user was created. “Password” is not shown again: type it again.',
    );
    assert.match(
      (refusalNotice(one) as { text: string }).text,
      /^<div class="error form-error" role="alert" id="user-error"><p>/,
    );
    const two = refusal('unit-alerts-error-u1', ['one.', 'two.'], [], 'Nothing was saved.', [
      'Slack channel',
      'Password',
    ]);
    const text = (refusalNotice(two) as { text: string }).text;
    assert.match(text, /<ul><li>one\.<\/li><li>two\.<\/li><\/ul>/);
    assert.match(
      read(refusalNotice(two)),
      /“Slack channel” and “Password” are not shown again: type them again\.$/,
    );
    // What is said is escaped like any value on a page.
    assert.match(
      (refusalNotice(refusal('e', '<b>x</b>', [], 'Nothing.')) as { text: string }).text,
      /&lt;b&gt;x&lt;\/b&gt;/,
    );
  });
});
