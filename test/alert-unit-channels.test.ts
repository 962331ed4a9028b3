import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { DEFAULT_ALERT_THRESHOLDS } from '../src/domain/alerts/rules.ts';
import type { MonitoringQueries } from '../src/domain/ports/monitoring-queries.ts';
import type { PostResult } from '../src/domain/ports/outbound-post.ts';
import { startAlertEvaluator } from '../src/ops/alerts/evaluator.ts';
import { createAlertStore } from '../src/store/alerts/index.ts';
import { SqlLeaderLease } from '../src/store/index.ts';
import { migratedDatabase, TEST_ENGINE } from './helpers.ts';

/**
 * A unit's own Slack channel hears of `provider_failing` while the unit's mail waits (the alerts
 * drill shows it), and of no other alert about every unit: `silent_event_webhook` is a broken
 * Event Webhook the operator fixes, and its count is every unit's mail.
 */
describe(`alerts about every unit in units' own Slack channels (${TEST_ENGINE})`, () => {
  const database = migratedDatabase();
  const MIN = 60_000;

  test('silent_event_webhook goes to the global channel only, not to a unit whose mail waits', async () => {
    const { handle } = database;
    let now = Date.now();
    const store = createAlertStore(handle);
    const hotel = { id: 'unit_01HOTEL0000000000000000000', name: 'hotel', createdAt: now };
    await handle.db
      .insertInto('units')
      .values({ id: hotel.id, name: hotel.name, created_at: now })
      .execute();
    await store.changeUnitSettings(
      hotel.id,
      (s) => ({ ...s, slackWebhookUrl: 'https://hooks.slack.example/services/T0/B0/hotel' }),
      now,
    );
    const queries: MonitoringQueries = {
      // Mail of the hotel's just due: no delivery_delay, and no provider_failing either.
      pending: async (at) => [
        {
          unitId: hotel.id,
          lastErrorClass: null,
          lastOutcome: null,
          lastProviderFault: null,
          count: 4,
          oldestSince: at,
        },
      ],
      deadLettersSince: async () => [],
      unconfirmedByUnit: async () => new Map(),
      errorSample: async () => null,
      lastEventAt: async () => null,
      // Mail accepted 20 minutes ago and no delivery event since: the Event Webhook is silent.
      acceptedUnconfirmedAfter: async () => ({ count: 7, first: now - 20 * MIN }),
      countByStatusAndUnit: async () => [],
    };
    const posted: string[] = [];
    const post = async (url: string): Promise<PostResult> => {
      posted.push(url);
      return { httpStatus: 200, error: null };
    };
    const evaluator = startAlertEvaluator({
      lease: (holder) => new SqlLeaderLease(handle, 'alerts', holder),
      store,
      sources: {
        queries,
        health: { report: async () => {}, remove: async () => {}, list: async () => [] },
        listUnits: async () => [hotel],
        configuredProvider: 'sendgrid',
        eventsExpected: true,
        unconfirmedAfterMs: 10 * MIN,
      },
      post,
      postTrusted: post,
      options: {
        thresholds: DEFAULT_ALERT_THRESHOLDS,
        forMs: 0,
        repeatMs: 3600_000,
        intervalMs: 3600_000,
        publicUrl: null,
        heartbeatUrl: null,
        retentionMs: 86_400_000,
        slackWebhookUrl: 'https://hooks.slack.example/services/T0/B0/global',
        webhookUrl: null,
        webhookSecret: null,
      },
      logger: pino({ level: 'silent' }),
      outage: { failed() {}, succeeded() {} },
      clock: () => now,
    });
    try {
      assert.equal(await evaluator.tick(), true);
      now += MIN;
      assert.equal(await evaluator.tick(), true);
      const firing = await store.firing();
      assert.deepEqual(
        firing.map((a) => a.rule),
        ['silent_event_webhook'],
      );
      const notifications = await handle.db
        .selectFrom('alert_notifications')
        .select(['channel', 'unit_id', 'kind'])
        .execute();
      assert.deepEqual(notifications, [{ channel: 'slack', unit_id: null, kind: 'firing' }]);
      assert.deepEqual(await store.unitChannelsNotified(firing[0]?.id ?? ''), []);
    } finally {
      await evaluator.stop();
    }
  });
});
