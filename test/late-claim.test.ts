// tegami-test: no-database
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { DeliveryWorker } from '../src/delivery/worker.ts';
import type { Provider } from '../src/domain/ports/provider.ts';
import { DEFAULT_RETRY_POLICY } from '../src/domain/retry-policy.ts';
import { waitFor } from './helpers.ts';
import { claimedMessage, fakeDeliveryStore } from './support/fakes.ts';

/**
 * A claim that waits on the database longer than half a lease (a table lock, a stalled server)
 * comes back with leases that are short or over, so another worker may claim the same mail. A
 * PostgreSQL drill sent mail twice that way: a lock held 30 s on `messages`, with the default
 * 30 s lease. The worker now renews such a claim's leases, on the condition that it still holds
 * them, and sends only those.
 */
const LEASE_MS = 30_000;

const claimed = (id: string) => claimedMessage(id);

/**
 * A worker over a store whose first claim returns `ids` after `claimMs` of the worker's clock;
 * `extendLeases` answers with `renew`.
 */
function setUp(
  claimMs: number,
  renew: (ids: readonly string[]) => Promise<string[]>,
  ids = ['a', 'b', 'c'],
) {
  let now = 1_000_000;
  const due = ids.map(claimed);
  const renewals: { ids: string[]; until: number }[] = [];
  const store = fakeDeliveryStore({
    async claimDue(request) {
      const rows = due.splice(0, request.limit);
      if (rows.length > 0) now += claimMs;
      return rows;
    },
    async extendLeases(_owner, some, until) {
      renewals.push({ ids: [...some], until });
      return renew(some);
    },
  });
  const sent: string[] = [];
  const provider: Provider = {
    name: 'test',
    async send(m) {
      sent.push(m.id);
      return { outcome: 'accepted' };
    },
  };
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
  const worker = new DeliveryWorker({
    store,
    provider,
    retry: DEFAULT_RETRY_POLICY,
    options: { concurrency: 8, batchSize: 8, leaseMs: LEASE_MS, pollIntervalMs: 20 },
    logger,
    outage: { failed() {}, succeeded() {} },
    clock: () => now,
  });
  return {
    worker,
    sent,
    renewals,
    warnings,
    claimedAt: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('a claim that took more than half a lease', () => {
  test('is sent only as far as its leases are still held, renewed from when it answered', async () => {
    // Another worker claimed `b` after this claim's lease had run out.
    const { worker, sent, renewals, warnings, claimedAt } = setUp(LEASE_MS + 1, async (ids) =>
      ids.filter((id) => id !== 'b'),
    );
    worker.start();
    await waitFor(async () => sent.length === 2 || null, 'the held messages sent');
    await worker.stop();
    assert.deepEqual(sent.sort(), ['a', 'c'], 'the message another worker holds is not sent here');
    assert.equal(renewals.length >= 1, true);
    assert.deepEqual(renewals[0]?.ids, ['a', 'b', 'c']);
    assert.equal(renewals[0]?.until, claimedAt() + LEASE_MS, 'a whole lease from the answer');
    assert.match(warnings.join(''), /mail another worker claimed meanwhile is left to it/);
  });

  test('is not sent at all when its leases cannot be renewed', async () => {
    const { worker, sent, renewals, warnings } = setUp(LEASE_MS * 0.75, async () => {
      throw new Error('connection terminated');
    });
    worker.start();
    await waitFor(async () => renewals.length >= 1 || null, 'the renewal tried');
    await new Promise((r) => setTimeout(r, 100));
    await worker.stop();
    assert.deepEqual(sent, []);
    assert.match(warnings.join(''), /could not be renewed: none of it is sent now/);
  });

  test('a claim answered within half a lease is sent without a renewal', async () => {
    const { worker, sent, renewals } = setUp(LEASE_MS / 2, async (ids) => [...ids]);
    worker.start();
    await waitFor(async () => sent.length === 3 || null, 'all sent');
    await worker.stop();
    assert.deepEqual(renewals, [], 'no statement more on the usual path');
  });

  test('mail handed over by an accepting commit that waited as long is renewed the same way', async () => {
    const { worker, sent, renewals, advance, claimedAt } = setUp(
      0,
      async (ids) => ids.filter((id) => id !== 'h2'),
      [],
    );
    worker.start();
    const reservation = await waitFor(
      async () => worker.reserve(2, claimedAt()),
      'a place for hand-overs',
    );
    // The accepting commit waited on a lock for longer than the lease it wrote.
    advance(LEASE_MS + 1);
    worker.deliver(reservation, [claimed('h1'), claimed('h2')]);
    await waitFor(async () => sent.length === 1 || null, 'the held message sent');
    await worker.stop();
    assert.deepEqual(sent, ['h1']);
    assert.deepEqual(renewals[0]?.ids, ['h1', 'h2']);
  });
});
