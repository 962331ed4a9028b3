// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  actorWords,
  attemptOutcomeText,
  attemptOutcomeWords,
  webhookProgress,
} from '../src/console/pages/words.ts';
import { actorLine } from '../src/domain/actor-words.ts';
import { BOOTSTRAP_KEY_NAME } from '../src/domain/api-keys.ts';

/** Html or text, as text a person reads (tags dropped). */
const read = (value: { text: string } | string) =>
  (typeof value === 'string' ? value : value.text).replace(/<[^>]+>/g, '');

/**
 * The console's one vocabulary (src/console/pages/words.ts) for what the code calls otherwise:
 * each attempt's outcome for every thing that can come after it, a status webhook posted again,
 * and who did something. The pages that use them are tested in Chromium
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
  });
});
