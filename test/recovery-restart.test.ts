import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { parseLeaseOwner } from '../src/delivery/lease-owner.ts';
import {
  message,
  queryDatabase,
  request,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { ProcessGroup } from './support/cluster.ts';

/**
 * Real processes: `tegami api` works a paced recovery and is killed with SIGKILL half-way. Two
 * new API processes start at once and race for it: exactly one resumes it where the last chunk
 * left off, and no message is retried or sent twice.
 */
const TOTAL = 200;
const RATE = 40; // per second: five seconds of work, so the kill lands in the middle

describe(`kill -9 of the process working a recovery (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  const group = new ProcessGroup();
  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_PROVIDER: 'test',
    TEGAMI_RETRY_MAX_ATTEMPTS: '1',
    TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
    TEGAMI_SANDBOX_OUTBOX_LIMIT: '100000',
  };
  after(async () => {
    await group.killAll();
    await db.cleanup();
  });

  test('after a restart the recovery completes; every message is sent exactly once', async () => {
    const first = await group.start('api-1', ['api'], env);
    await group.start('worker', ['worker'], env);
    const api = (url: string) => (method: string, path: string, body?: unknown) =>
      request(url, method, path, body);
    const call = api(await first.ready);

    const messages = Array.from({ length: TOTAL }, (_, i) =>
      // Fails its first attempt (dead-lettered: one attempt allowed), then is accepted.
      message({ to: [{ email: `retryable-1+${i}@example.com` }] }),
    );
    const submitted = await call('POST', '/v1/messages/batch', { messages });
    assert.equal(submitted.status, 202);
    await waitFor(
      async () =>
        (await call('GET', '/v1/messages?status=failed&count=true&limit=1')).body.total === TOTAL,
      'every message dead-lettered',
      60_000,
    );

    const started = await call('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
      dry_run: false,
      rate_per_s: RATE,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = started.body.id as string;
    const progress = async () => {
      const [row] = await queryDatabase<{
        done: number;
        lease_owner: string | null;
        state: string;
      }>(db.url, 'select done, lease_owner, state from recoveries where id = ?', [id]);
      assert.ok(row);
      return row;
    };
    const midway = await waitFor(
      async () => {
        const p = await progress();
        return p.done >= RATE && p.done < TOTAL ? p : null;
      },
      'the recovery half-way',
      30_000,
      20,
    );
    assert.equal(parseLeaseOwner(midway.lease_owner ?? '').pid, first.pid, 'api-1 works on it');
    first.child.kill('SIGKILL');
    await first.exited;
    const doneAtKill = (await progress()).done;
    assert.ok(doneAtKill < TOTAL, 'killed before the end');

    // The restart: two API processes at once; one of them takes the recovery over.
    const [second, third] = await Promise.all([
      group.start('api-2', ['api'], env),
      group.start('api-3', ['api'], env),
    ]);
    const finished = await waitFor(
      async () => {
        const r = await request(await second.ready, 'GET', `/v1/recoveries/${id}`);
        return r.body.state === 'running' ? null : r.body;
      },
      'the recovery to finish',
      60_000,
    );
    assert.equal(finished.state, 'done');
    assert.equal(finished.done, TOTAL, 'every message retried once');
    assert.equal(finished.skipped, 0, 'no chunk was worked twice (it would skip "not_failed")');
    assert.deepEqual(finished.skipped_reasons, {});
    assert.ok(third.alive() && second.alive());

    await waitFor(
      async () =>
        (await request(await third.ready, 'GET', '/v1/messages?status=sent&count=true&limit=1'))
          .body.total === TOTAL,
      'every message sent',
      60_000,
    );
    const [sends] = await queryDatabase<{ n: number; distinct_n: number }>(
      db.url,
      'select count(*) n, count(distinct message_id) distinct_n from sandbox_messages',
    );
    assert.equal(Number(sends?.distinct_n), TOTAL, 'every message sent');
    assert.equal(Number(sends?.n), TOTAL, 'none sent twice');
    const codes = await group.stopAll();
    for (const [name, code] of codes) {
      if (name !== 'api-1') assert.equal(code, 0, `${name} stopped cleanly`);
    }
  });
});
