import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startClusterJobs } from '../src/ops/cluster-jobs.ts';
import { createLogger } from '../src/ops/logger.ts';
import {
  createMaintenanceStore,
  SqlDeliveryEventStore,
  SqlMessageStore,
} from '../src/store/index.ts';
import {
  acceptedAttempt,
  message,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/**
 * Events that arrive before the attempt naming their provider message id are matched later by
 * the maintenance job. With a shared SendGrid account, most unmatched events never match (other
 * applications' mail): they must neither hide the ones that do, nor pile up for ever.
 */
describe(`late matching of delivery events (${TEST_ENGINE})`, () => {
  let tegami: TestService;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    });
    // Keep the service's own maintenance job from matching behind the test's back: the lease
    // is held by nobody that runs.
    await tegami.service.database.db
      .insertInto('leader_leases')
      .values({ name: 'maintenance', holder: 'test/holds-it', expires_at: Date.now() + DAY })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({ holder: 'test/holds-it', expires_at: Date.now() + DAY }),
      )
      .execute();
  });
  after(async () => {
    await tegami.stop();
  });

  async function postEvents(events: Record<string, unknown>[]) {
    const r = await fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    assert.equal(r.status, 200);
    return (await r.json()) as { stored: number; matched: number };
  }

  /** A message whose (recorded) attempt carries this provider message id. */
  async function messageSentAs(providerMessageId: string, email: string): Promise<string> {
    const r = await tegami.request('POST', '/v1/messages', message({ to: [{ email }] }));
    assert.equal(r.status, 202);
    await tegami.service.database.db
      .insertInto('attempts')
      .values(acceptedAttempt(r.body.id, providerMessageId))
      .execute();
    return r.body.id as string;
  }

  const deliveryStatus = async (id: string) =>
    (await tegami.request('GET', `/v1/messages/${id}`)).body.recipients[0].delivery_status;

  test('a matchable event behind 1,500 that never match is matched', async () => {
    // Sorted before the matchable one by every order a scan could take: arrival, key, and
    // provider message id.
    const strangers = Array.from({ length: 1_500 }, (_, i) => ({
      email: `stranger${i}@example.com`,
      event: 'delivered',
      timestamp: 1_800_000_000,
      sg_event_id: `a-stranger-${String(i).padStart(4, '0')}`,
      sg_message_id: `AAAA${String(i).padStart(6, '0')}.filter-1`,
    }));
    assert.equal((await postEvents(strangers)).stored, strangers.length);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(
      (
        await postEvents([
          {
            email: 'late@example.com',
            event: 'delivered',
            timestamp: 1_800_000_100,
            sg_event_id: 'z-late-1',
            sg_message_id: 'ZZZZLATE.filter-1',
          },
        ])
      ).matched,
      0,
      'no attempt names it yet',
    );
    const id = await messageSentAs('ZZZZLATE', 'late@example.com');

    // One page of 1,000 per call, as the maintenance job used to read: the first page is all
    // strangers, the second reaches the event.
    const store = new SqlDeliveryEventStore(tegami.service.database);
    assert.equal(await store.matchLater(1_000), 0);
    assert.equal(await store.matchLater(1_000), 1);
    assert.equal(await deliveryStatus(id), 'delivered');
    // The walk starts over after the newest event: nothing more to match, nothing lost.
    assert.equal(await store.matchLater(1_000, 5), 0);
  });

  test('the maintenance round matches within the window, gives up after it, prunes by retention', async () => {
    const now = Date.now();
    const db = tegami.service.database.db;
    const event = (key: string, providerId: string, receivedAt: number, email: string) => ({
      event_key: `sendgrid:${key}`,
      provider: 'sendgrid',
      message_id: null,
      email_normalized: email,
      event: 'delivered',
      occurred_at: receivedAt,
      received_at: receivedAt,
      provider_message_id: providerId,
      payload: JSON.stringify({ email, event: 'delivered' }),
    });
    const recent = await messageSentAs('RECENTID', 'recent@example.com');
    const stale = await messageSentAs('STALEID', 'stale@example.com');
    await db
      .insertInto('delivery_events')
      .values([
        event('window-recent', 'RECENTID', now - 2 * HOUR, 'recent@example.com'),
        // Arrived two days ago: beyond the default one-day window, so no longer looked at.
        event('window-stale', 'STALEID', now - 2 * DAY, 'stale@example.com'),
        // Older than retention (90 days by default): deleted.
        event('window-ancient', 'NOSUCHID', now - 91 * DAY, 'ancient@example.com'),
        event('window-ancient-2', 'NOSUCHID2', now - 100 * DAY, 'ancient@example.com'),
      ])
      .execute();

    const jobs = startClusterJobs({
      store: createMaintenanceStore(
        tegami.service.database,
        new SqlMessageStore(tegami.service.database),
        new SqlDeliveryEventStore(tegami.service.database),
      ),
      retentionDays: 90,
      logger: createLogger('silent'),
      clock: () => now,
      intervalMs: 3_600_000,
    });
    try {
      // Let the held lease expire, so this round takes it (should the service's own job take it
      // first, that round does the same work; try again).
      await waitFor(async () => {
        await db.updateTable('leader_leases').set({ expires_at: 0 }).execute();
        return jobs.tick();
      }, 'a maintenance round that holds the lease');
    } finally {
      await jobs.stop();
    }
    assert.equal(await deliveryStatus(recent), 'delivered', 'matched within the window');
    assert.equal(await deliveryStatus(stale), null, 'given up after the window');
    const left = await db
      .selectFrom('delivery_events')
      .select('event_key')
      .where('event_key', 'like', 'sendgrid:window-%')
      .orderBy('event_key')
      .execute();
    assert.deepEqual(
      left.map((r) => r.event_key),
      ['sendgrid:window-recent', 'sendgrid:window-stale'],
      'unmatched events older than retention are deleted; matched and younger ones stay',
    );
  });
});
