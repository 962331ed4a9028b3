import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Attempt } from '../src/domain/types.ts';
import { ingestEvents } from '../src/store/events/ingest.ts';
import { type DatabaseHandle, SqlDeliveryStore, SqlMessageStore } from '../src/store/index.ts';
import { acceptedSend, migratedDatabase, storeOneMessage } from './helpers.ts';

/**
 * A worker whose lease ran out (stopped longer than a lease, a database that took no writes)
 * finishes its send after a lease sweep released the message. Its result replaces the sweep's
 * `unknown` attempt and decides the message unless it was claimed again since. Before, the
 * message was left as the sweep left it: a send the provider accepted went out a second time,
 * and a stale result of the same worker ended its own newer attempt.
 */
describe('a late result after the lease sweep', () => {
  const database = migratedDatabase();
  let handle: DatabaseHandle;
  let messages: SqlMessageStore;
  let delivery: SqlDeliveryStore;
  before(() => {
    handle = database.handle;
    messages = new SqlMessageStore(handle);
    delivery = new SqlDeliveryStore(handle);
  });

  const attempt = (number: number, startedAt: number, accepted: boolean): Attempt =>
    acceptedSend(
      number,
      startedAt,
      accepted
        ? { providerMessageId: `pm-${number}` }
        : { outcome: 'retryable', httpStatus: 503, errorClass: 'http_503' },
    );

  // Each test runs far in the future of the previous one, so claims only see its own message.
  let base = Date.now() + 10_000_000;
  const fresh = () => {
    base += 10_000_000;
    return base;
  };

  test('a late success makes the message sent; it is not sent again', async () => {
    const now = fresh();
    const id = await storeOneMessage(messages, now);
    const first = await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 1000, now });
    assert.ok(first.some((m) => m.id === id));
    // A delivery-event webhook is configured: lost sends wait 120 s for proof.
    const lost = { provider: 'sendgrid', proofWaitMs: 120_000 };
    assert.deepEqual(await delivery.releaseExpiredLeases(now + 1001, lost), {
      released: 1,
      confirmed: 0,
    });
    // Worker A was alive after all: the provider accepted its send (202).
    await delivery.complete({
      messageId: id,
      leaseOwner: 'host-a/1/a',
      now: now + 1100,
      attempt: attempt(1, now, true),
      decision: { kind: 'sent' },
    });
    const record = await messages.get(id);
    assert.deepEqual(
      record?.attempts.map((a) => [a.number, a.outcome]),
      [[1, 'accepted']],
      'the real result replaced the unknown attempt',
    );
    const again = await delivery.claimDue({
      owner: 'host-b/1/b',
      limit: 10,
      leaseMs: 1000,
      now: now + 1001 + 120_000,
    });
    assert.deepEqual(
      { status: record?.status, claimedAgain: again.some((m) => m.id === id) },
      { status: 'sent', claimedAgain: false },
      'the provider accepted it: it must not be sent a second time',
    );
  });

  test('a late success, then its delivery event: sent, not sent again', async () => {
    const now = fresh();
    const id = await storeOneMessage(messages, now);
    await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 1000, now });
    const lost = { provider: 'sendgrid', proofWaitMs: 120_000 };
    await delivery.releaseExpiredLeases(now + 1001, lost);
    await delivery.complete({
      messageId: id,
      leaseOwner: 'host-a/1/a',
      now: now + 1100,
      attempt: attempt(1, now, true),
      decision: { kind: 'sent' },
    });
    // The provider's `delivered` event arrives during the wait for proof.
    await ingestEvents(
      handle,
      { suppressBlocks: false },
      [
        {
          key: `sendgrid:${id}:delivered`,
          provider: 'sendgrid',
          event: 'delivered',
          email: 'guest@example.com',
          occurredAt: now + 1200,
          messageId: id,
          providerMessageId: null,
          bounceType: null,
          raw: {},
        },
      ],
      now + 1300,
    );
    const record = await messages.get(id);
    const again = await delivery.claimDue({
      owner: 'host-b/1/b',
      limit: 10,
      leaseMs: 1000,
      now: now + 1001 + 120_000,
    });
    assert.deepEqual(
      { status: record?.status, claimedAgain: again.some((m) => m.id === id) },
      { status: 'sent', claimedAgain: false },
      'proof arrived (and the worker saw a 202): it must not be sent a second time',
    );
  });

  test('the same worker claims it again; its stale attempt-1 result leaves attempt 2 alone', async () => {
    const now = fresh();
    const id = await storeOneMessage(messages, now);
    await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 1000, now });
    // No webhook configured: released mail is due at once, and the same worker claims it again
    // while its first send is still out (its event loop stalled longer than a lease).
    await delivery.releaseExpiredLeases(now + 1001, { provider: 'sendgrid', proofWaitMs: 0 });
    const second = (
      await delivery.claimDue({ owner: 'host-a/1/a', limit: 10, leaseMs: 30_000, now: now + 1002 })
    ).find((m) => m.id === id);
    assert.equal(second?.attemptCount, 2);
    // The first send comes back with a 503: a retry decision, made for attempt 1.
    await delivery.complete({
      messageId: id,
      leaseOwner: 'host-a/1/a',
      now: now + 1100,
      attempt: attempt(1, now, false),
      decision: { kind: 'retry', at: now + 60_000, reason: 'http_503', chargesBudget: true },
    });
    const during = await messages.get(id);
    // Attempt 2 is still being sent and holds the lease.
    const kept = await delivery.extendLeases('host-a/1/a', [id], now + 40_000);
    // Attempt 2 is accepted.
    await delivery.complete({
      messageId: id,
      leaseOwner: 'host-a/1/a',
      now: now + 1200,
      attempt: attempt(2, now + 1002, true),
      decision: { kind: 'sent' },
    });
    const record = await messages.get(id);
    assert.deepEqual(
      {
        statusWhileAttempt2Out: during?.status,
        leaseKept: kept,
        finalStatus: record?.status,
        attempts: record?.attempts.map((a) => [a.number, a.outcome]),
      },
      {
        statusWhileAttempt2Out: 'sending',
        leaseKept: [id],
        finalStatus: 'sent',
        attempts: [
          [1, 'retryable'],
          [2, 'accepted'],
        ],
      },
    );
  });
});
