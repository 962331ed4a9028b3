import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { DeliveryWorker } from '../src/delivery/worker.ts';
import { newId } from '../src/domain/ids.ts';
import type { Completion, DeliveryStore } from '../src/domain/ports/delivery-store.ts';
import type { Provider } from '../src/domain/ports/provider.ts';
import { DEFAULT_RETRY_POLICY } from '../src/domain/retry-policy.ts';
import type { MessageContent } from '../src/domain/types.ts';
import { OutageLog } from '../src/ops/outage-log.ts';
import {
  type DatabaseHandle,
  migrateToLatest,
  openDatabase,
  SqlDeliveryStore,
  SqlMessageStore,
} from '../src/store/index.ts';
import { queryDatabase, TEST_ENGINE, tempDatabase, waitFor } from './helpers.ts';

const content = (subject: string): MessageContent => ({
  from: { email: 'bookings@hotel.example' },
  to: [{ email: 'guest@example.com' }],
  cc: [],
  bcc: [],
  subject,
  headers: {},
  categories: [],
  metadata: {},
  attachments: [],
});

/**
 * A worker's slots are sends in flight: a slot frees when the provider has answered, and the
 * result is written behind it, up to as many results again as there are slots.
 */
describe(`the worker's slots (${TEST_ENGINE})`, () => {
  let db: ReturnType<typeof tempDatabase>;
  let handle: DatabaseHandle;
  before(async () => {
    db = tempDatabase();
    handle = openDatabase(db.url);
    await migrateToLatest(handle.db);
  });
  after(async () => {
    await handle.close();
    await db.cleanup();
  });

  test('free up when the provider answers; results not yet written hold back new claims past a bound', async () => {
    const ids = Array.from({ length: 10 }, () => newId('msg'));
    await new SqlMessageStore(handle).submit({
      messages: ids.map((id, i) => ({
        id,
        apiKeyId: null,
        content: content(`booking ${i}`),
        sendAt: null,
        createdAt: Date.now() - 1_000 + i,
      })),
    });

    // The real store, with its writes of results held until the test lets them through (a
    // database slow to commit).
    const real = new SqlDeliveryStore(handle);
    let letThrough!: () => void;
    const gate = new Promise<void>((resolve) => {
      letThrough = resolve;
    });
    const store: DeliveryStore = {
      claimDue: (request) => real.claimDue(request),
      complete: async (completion: Completion) => {
        await gate;
        await real.complete(completion);
      },
      flushed: () => real.flushed(),
      activeLeaseOwners: (now) => real.activeLeaseOwners(now),
      releaseLeases: (owner, now) => real.releaseLeases(owner, now),
    };
    const sent: string[] = [];
    const provider: Provider = {
      name: 'counting',
      async send(message) {
        sent.push(message.id);
        return { outcome: 'accepted', providerMessageId: `p-${message.id}` };
      },
    };
    const logger = pino({ level: 'silent' });
    const worker = new DeliveryWorker({
      store,
      provider,
      retry: DEFAULT_RETRY_POLICY,
      options: { concurrency: 2, batchSize: 2, leaseMs: 60_000, pollIntervalMs: 20 },
      logger,
      outage: new OutageLog(logger),
    });
    worker.start();
    try {
      // Two slots, none of the results written: still four sends (two slots' worth behind).
      await waitFor(async () => sent.length >= 4, 'four sends', 5_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(sent.length, 4, 'results waiting to be written hold back further claims');
      const stored = await queryDatabase<{ n: number }>(
        db.url,
        `select count(*) as n from messages where status = 'sent'`,
      );
      assert.equal(Number(stored[0]?.n), 0, 'nothing written yet');

      letThrough();
      await waitFor(async () => sent.length === 10, 'every message sent', 5_000);
    } finally {
      await worker.stop();
    }
    // Stopping waited for every result to be written.
    const stored = await queryDatabase<{ status: string; n: number }>(
      db.url,
      'select status, count(*) as n from messages group by status',
    );
    assert.deepEqual(
      stored.map((r) => [r.status, Number(r.n)]),
      [['sent', 10]],
    );
    assert.deepEqual([...sent].sort(), [...ids].sort(), 'each message sent once');
  });
});
