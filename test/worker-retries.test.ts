import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { formatLeaseOwner } from '../src/delivery/lease-owner.ts';
import { releaseDeadLocalLeases } from '../src/delivery/lease-reaper.ts';
import { type DatabaseHandle, SqlDeliveryStore, SqlMessageStore } from '../src/store/index.ts';
import {
  acceptedSend,
  message,
  migratedDatabase,
  startTestService,
  storeOneMessage,
  type TestService,
  waitFor,
} from './helpers.ts';

describe('delivery worker: retries, backoff and dead-lettering (test provider)', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_RETRY_MAX_ATTEMPTS: '4',
      TEGAMI_RETRY_BASE_DELAY_MS: '20',
      TEGAMI_RETRY_MAX_DELAY_MS: '100',
    });
  });
  after(async () => {
    await svc.stop();
  });

  async function submitAndWait(to: string, status: 'sent' | 'failed') {
    const res = await svc.request('POST', '/v1/messages', message({ to: [{ email: to }] }));
    assert.equal(res.status, 202);
    return waitFor(async () => {
      const r = await svc.request('GET', `/v1/messages/${res.body.id}`);
      return r.body.status === status ? r.body : null;
    }, `${to} to become ${status}`);
  }

  test('a retryable failure is retried with backoff until it succeeds', async () => {
    const body = await submitAndWait('retryable-2@example.com', 'sent');
    assert.equal(body.attempt_count, 3);
    assert.deepEqual(
      body.attempts.map((a: { outcome: string }) => a.outcome),
      ['retryable', 'retryable', 'accepted'],
    );
    assert.equal(body.attempts[0].http_status, 503);
    assert.equal(body.attempts[0].error_class, 'http_503');
    assert.equal(body.last_error, null);
    assert.equal(body.recipients[0].status, 'sent');
  });

  test('a permanent failure dead-letters at once; retry sends it again', async () => {
    const body = await submitAndWait('permanent@example.com', 'failed');
    assert.equal(body.attempts.length, 1);
    assert.match(body.last_error, /http_400/);
    assert.equal(body.recipients[0].status, 'failed');
    const failed = await svc.request(
      'GET',
      '/v1/messages?status=failed&recipient=permanent@example.com',
    );
    assert.ok(failed.body.data.some((m: { id: string }) => m.id === body.id));

    const retried = await svc.request('POST', `/v1/messages/${body.id}/retry`);
    assert.equal(retried.status, 200);
    assert.ok(['queued', 'sending', 'failed'].includes(retried.body.status));
    // Waiting again, its recipient reads pending (the stored `failed` is the last outcome).
    if (retried.body.status !== 'failed')
      assert.equal(retried.body.recipients[0].status, 'pending');
    const again = await waitFor(async () => {
      const r = await svc.request('GET', `/v1/messages/${body.id}`);
      return r.body.status === 'failed' && r.body.attempts.length === 2 ? r.body : null;
    }, 'second permanent failure');
    assert.equal(again.attempts.length, 2);
  });

  test('attempts are exhausted: failed with the last reason', async () => {
    const body = await submitAndWait('retryable@example.com', 'failed');
    assert.equal(body.attempts.length, 4);
    assert.match(body.last_error, /gave up after 4 attempts; last: http_503/);
  });

  test('a provider exception is a retryable failure, not a crash', async () => {
    const body = await submitAndWait('throws@example.com', 'failed');
    assert.equal(body.attempts.length, 4);
    assert.equal(body.attempts[0].error_class, 'provider_exception');
  });

  test("the provider's Retry-After is a floor for the next attempt", async () => {
    const body = await submitAndWait('retry-after-400@example.com', 'sent');
    assert.equal(body.attempts.length, 2);
    assert.equal(body.attempts[0].http_status, 429);
    const gap = Date.parse(body.attempts[1].started_at) - Date.parse(body.attempts[0].started_at);
    assert.ok(gap >= 400, `second attempt came after ${gap} ms`);
  });
});

describe('leases', () => {
  const database = migratedDatabase();
  let handle: DatabaseHandle;
  let messages: SqlMessageStore;
  let delivery: SqlDeliveryStore;
  before(() => {
    handle = database.handle;
    messages = new SqlMessageStore(handle);
    delivery = new SqlDeliveryStore(handle);
  });

  const accepted = (number: number, startedAt: number) =>
    acceptedSend(number, startedAt, { provider: 'sandbox', providerMessageId: 'provider-id' });

  test('an expired lease is released with an unknown attempt, not claimed at once; the stale worker cannot overwrite', async () => {
    const id = await storeOneMessage(messages);
    const now = Date.now();
    const [first] = await delivery.claimDue({
      owner: 'host-a/1/a',
      limit: 10,
      leaseMs: 1000,
      now: now,
    });
    assert.equal(first?.id, id);
    assert.equal(first?.attemptCount, 1);
    assert.deepEqual(
      await delivery.claimDue({ owner: 'host-b/1/b', limit: 10, leaseMs: 1000, now: now + 500 }),
      [],
      'lease still held',
    );
    // Its worker (on another host) stopped: the lease ran out. A claim leaves it to the sweep,
    // which records the lost attempt and lets it wait for proof as a known dead worker's does.
    assert.deepEqual(
      await delivery.claimDue({ owner: 'host-b/1/b', limit: 10, leaseMs: 1000, now: now + 1001 }),
      [],
      'not sent again at once',
    );
    assert.deepEqual(
      await delivery.releaseExpiredLeases(now + 1001, { provider: 'sandbox', proofWaitMs: 0 }),
      { released: 1, confirmed: 0 },
    );
    let record = await messages.get(id);
    assert.equal(record?.status, 'queued');
    assert.deepEqual(
      record?.attempts.map((a) => [a.number, a.outcome, a.errorClass]),
      [[1, 'unknown', 'worker_lost']],
      'no gap in the attempt numbers',
    );
    assert.deepEqual(
      await delivery.releaseExpiredLeases(now + 1002, { provider: 'sandbox', proofWaitMs: 0 }),
      { released: 0, confirmed: 0 },
      'once',
    );
    const [second] = await delivery.claimDue({
      owner: 'host-b/1/b',
      limit: 10,
      leaseMs: 1000,
      now: now + 1002,
    });
    assert.equal(second?.id, id);
    assert.equal(second?.attemptCount, 2);

    const attempt = (number: number) => ({
      ...accepted(number, now),
      outcome: 'retryable' as const,
      httpStatus: 503,
      providerMessageId: null,
      errorClass: 'http_503',
    });
    // The first worker comes back late with a failure: its attempt takes the place of the
    // unknown one, the status is untouched.
    await delivery.complete({
      messageId: id,
      leaseOwner: 'host-a/1/a',
      now: now + 1100,
      attempt: attempt(1),
      decision: { kind: 'failed', reason: 'stale' },
    });
    record = await messages.get(id);
    assert.equal(record?.status, 'sending');
    assert.equal(record?.attempts[0]?.errorClass, 'http_503', 'the real result, not unknown');
    await delivery.complete({
      messageId: id,
      leaseOwner: 'host-b/1/b',
      now: now + 1200,
      attempt: { ...attempt(2), outcome: 'accepted', httpStatus: 202, errorClass: null },
      decision: { kind: 'sent' },
    });
    record = await messages.get(id);
    assert.equal(record?.status, 'sent');
    assert.equal(record?.attempts.length, 2);
  });

  test('the sweep leaves alone what its own worker still holds', async () => {
    const id = await storeOneMessage(messages);
    const now = Date.now() + 1000;
    await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 1000, now });
    const lost = { provider: 'sandbox', proofWaitMs: 0 };
    assert.deepEqual(await delivery.releaseExpiredLeases(now + 1001, lost, [id]), {
      released: 0,
      confirmed: 0,
    });
    assert.equal((await messages.get(id))?.status, 'sending');
    // Its worker writes the result once the database takes it, however late.
    await delivery.complete({
      messageId: id,
      leaseOwner: 'host-a/1/a',
      now: now + 60_000,
      attempt: accepted(1, now),
      decision: { kind: 'sent' },
    });
    const record = await messages.get(id);
    assert.equal(record?.status, 'sent');
    assert.deepEqual(
      record?.attempts.map((a) => [a.number, a.outcome]),
      [[1, 'accepted']],
    );
  });

  test('a late `sent` settles a released message that was not claimed again, and only that', async () => {
    const lost = { provider: 'sandbox', proofWaitMs: 0 };
    const now = Date.now() + 1000;
    // Released by another process's sweep, then the worker's result arrives: sent, not again.
    const waiting = await storeOneMessage(messages);
    await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 1000, now });
    await delivery.releaseExpiredLeases(now + 1001, lost);
    await delivery.complete({
      messageId: waiting,
      leaseOwner: 'host-a/1/a',
      now: now + 1500,
      attempt: accepted(1, now),
      decision: { kind: 'sent' },
    });
    let record = await messages.get(waiting);
    assert.equal(record?.status, 'sent');
    assert.equal(record?.recipients[0]?.status, 'sent');
    assert.deepEqual(
      record?.attempts.map((a) => [a.number, a.outcome]),
      [[1, 'accepted']],
      'the unknown attempt replaced',
    );
    assert.deepEqual(
      await delivery.claimDue({ owner: 'host-b/1/b', limit: 10, leaseMs: 1000, now: now + 2000 }),
      [],
      'nothing left to send',
    );

    // Claimed again meanwhile: the second send is under way; the late result changes no status.
    const reclaimed = await storeOneMessage(messages);
    const later = now + 10_000;
    await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 1000, now: later });
    await delivery.releaseExpiredLeases(later + 1001, lost);
    const [again] = await delivery.claimDue({
      owner: 'host-b/1/b',
      limit: 10,
      leaseMs: 1000,
      now: later + 1002,
    });
    assert.equal(again?.id, reclaimed);
    await delivery.complete({
      messageId: reclaimed,
      leaseOwner: 'host-a/1/a',
      now: later + 1500,
      attempt: accepted(1, later),
      decision: { kind: 'sent' },
    });
    record = await messages.get(reclaimed);
    assert.equal(record?.status, 'sending', 'host-b holds it');
    assert.deepEqual(
      record?.attempts.map((a) => [a.number, a.outcome]),
      [[1, 'accepted']],
    );
  });

  const quiet = pino({ level: 'silent' });
  const claimAsDeadWorker = async (now: number) => {
    const id = await storeOneMessage(messages);
    const [claimed] = await delivery.claimDue({
      owner: formatLeaseOwner(999_999_999),
      limit: 10,
      leaseMs: 3600_000,
      now,
    });
    assert.equal(claimed?.id, id);
    return id;
  };

  test('leases of a dead worker in this process table are released at once', async () => {
    // Ahead of the submissions' own due time.
    const now = Date.now() + 1000;
    const id = await claimAsDeadWorker(now);
    assert.deepEqual(
      await delivery.claimDue({ owner: 'me', limit: 10, leaseMs: 1000, now: now + 1 }),
      [],
    );
    const lost = { provider: 'sandbox', proofWaitMs: 0 };
    const released = await releaseDeadLocalLeases(delivery, 'me', lost, quiet, now + 2);
    assert.equal(released, 1);
    const [again] = await delivery.claimDue({
      owner: 'me',
      limit: 10,
      leaseMs: 1000,
      now: now + 3,
    });
    assert.equal(again?.id, id);
    assert.equal(again?.attemptCount, 2);
    // The send the dead worker made, or may have made, is in the timeline: no gap in the numbers.
    const record = await messages.get(id);
    assert.deepEqual(
      record?.attempts.map((a) => [a.number, a.outcome, a.errorClass]),
      [[1, 'unknown', 'worker_lost']],
    );
  });

  test("a dead worker's send waits for proof like a timeout; one with a delivery event is sent", async () => {
    // Ahead of the submissions' own due time.
    const now = Date.now() + 1000;
    const waiting = await claimAsDeadWorker(now);
    const delivered = await claimAsDeadWorker(now);
    // The provider's event for one of them came before the new process looked.
    await handle.db
      .insertInto('delivery_events')
      .values({
        event_key: `test:${delivered}`,
        provider: 'sendgrid',
        message_id: delivered,
        email_normalized: 'guest@example.com',
        event: 'delivered',
        occurred_at: now,
        received_at: now,
        provider_message_id: null,
        payload: '{}',
      })
      .execute();
    const lost = { provider: 'sendgrid', proofWaitMs: 120_000 };
    assert.equal(await releaseDeadLocalLeases(delivery, 'me', lost, quiet, now + 2), 2);
    assert.equal((await messages.get(delivered))?.status, 'sent', 'not sent a second time');
    const held = await messages.get(waiting);
    assert.equal(held?.status, 'queued');
    assert.equal(held?.nextAttemptAt, now + 2 + 120_000);
    const early = await delivery.claimDue({
      owner: 'me',
      limit: 10,
      leaseMs: 1000,
      now: now + 60_000,
    });
    assert.ok(!early.some((m) => m.id === waiting), 'not before the wait is over');
    const later = await delivery.claimDue({
      owner: 'me',
      limit: 10,
      leaseMs: 1000,
      now: now + 2 + 120_000,
    });
    assert.ok(
      later.some((m) => m.id === waiting),
      'then sent again',
    );
  });

  test('a live worker in this process table keeps its leases', async () => {
    const id = await storeOneMessage(messages);
    const now = Date.now();
    const [claimed] = await delivery.claimDue({
      owner: formatLeaseOwner(process.pid),
      limit: 10,
      leaseMs: 3600_000,
      now,
    });
    assert.equal(claimed?.id, id);
    assert.equal(
      await releaseDeadLocalLeases(
        delivery,
        'me',
        { provider: 'sandbox', proofWaitMs: 0 },
        quiet,
        now + 1,
      ),
      0,
    );
  });
});
