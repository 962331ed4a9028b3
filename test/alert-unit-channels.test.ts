import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import pino from 'pino';
import { DEFAULT_ALERT_THRESHOLDS } from '../src/domain/alerts/rules.ts';
import { createApiKey } from '../src/domain/api-keys.ts';
import { newAuditEvent } from '../src/domain/operations/audit-event.ts';
import type { Actor } from '../src/domain/operations/scope.ts';
import type { MonitoringQueries } from '../src/domain/ports/monitoring-queries.ts';
import type { PostResult } from '../src/domain/ports/outbound-post.ts';
import { startAlertEvaluator } from '../src/ops/alerts/evaluator.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { createAlertStore } from '../src/store/alerts/index.ts';
import { openDatabase, SqlApiKeyStore, SqlLeaderLease } from '../src/store/index.ts';
import { GuardedPoster } from '../src/tracking/guarded-post.ts';
import {
  message,
  migratedDatabase,
  queryDatabase,
  request,
  spawnTegami,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type Captured, startCaptureServer } from './support/capture-server.ts';

const SG_KEY = 'SG.alert-unit-channels';
/** Who sets a unit's Slack channel here, as an admin would through PUT /v1/units/{id}. */
const OPERATOR: Actor = { type: 'key', id: 'key_test', name: 'on-call' };

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
      (s) => newAuditEvent(OPERATOR, 'unit.update', { unitId: s.unitId, target: s.unitId }, now),
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

/**
 * A copy of a provider's alert belongs to one unit's channel. When the unit's Slack URL is
 * removed while its copy is still retried (Slack answered 500), the copy is dropped: it used to go
 * to the global channel instead, which had the alert already and then had it twice, under the
 * unit's name. A unit muted meanwhile is not paged by the retry either.
 */
describe(`a unit's copy of a provider alert goes to its channel or nowhere (${TEST_ENGINE})`, () => {
  test('the URL removed or the unit muted while the copy is retried: dropped, logged once, not sent elsewhere', async () => {
    const simulator = await startSimulator({ port: 0, apiKey: SG_KEY });
    const ok = (_req: Captured, res: ServerResponse) => {
      res.writeHead(200).end('ok');
    };
    const broken = (_req: Captured, res: ServerResponse) => {
      res.writeHead(500).end('oops');
    };
    const globalSlack = await startCaptureServer(ok);
    const defaultSlack = await startCaptureServer(broken);
    const spaSlack = await startCaptureServer(broken);
    const db = tempDatabase();
    const serve = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_LOG_LEVEL: 'info',
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: SG_KEY,
      TEGAMI_SENDGRID_BASE_URL: simulator.url,
      TEGAMI_SENDGRID_TIMEOUT_MS: '400',
      TEGAMI_PROVIDER_FAILURE_THRESHOLD: '3',
      TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '200',
      TEGAMI_SLACK_WEBHOOK_URL: `${globalSlack.url}/services/T0/B0/global`,
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_ALERT_INTERVAL_MS: '200',
      TEGAMI_ALERT_FOR_S: '1',
    });
    const handle = openDatabase(db.url);
    try {
      const url = await serve.ready;
      const admin = (method: string, path: string, body?: unknown) =>
        request(url, method, path, body);
      // The admin key's mail is the default unit's.
      let put = await admin('PUT', '/v1/units/default', {
        slack_webhook_url: `${defaultSlack.url}/services/T0/B1/default`,
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const spa = await admin('POST', '/v1/units', { name: 'spa' });
      assert.equal(spa.status, 201, JSON.stringify(spa.body));
      const { key: spaKey } = await createApiKey(
        new SqlApiKeyStore(handle),
        'spa app',
        Date.now(),
        {
          unitId: spa.body.id,
        },
      );
      put = await admin('PUT', '/v1/units/spa', {
        slack_webhook_url: `${spaSlack.url}/services/T0/B2/spa`,
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));

      const outage = await request(simulator.url, 'POST', '/_simulator/outage', {
        mode: '503',
        durationMs: 120_000,
      });
      assert.equal(outage.status, 200);
      assert.equal((await admin('POST', '/v1/messages', message())).status, 202);
      const spaMail = await request(url, 'POST', '/v1/messages', message(), {}, spaKey);
      assert.equal(spaMail.status, 202);

      // Each unit's channel is tried once, fails, and its copy waits 5 s for its retry.
      const copy = /^FIRING \[critical\] provider_failing \(sendgrid; unit (default|spa)\)/;
      const copiesIn = (slack: typeof globalSlack) =>
        slack.captured.filter((c) => copy.test(JSON.parse(c.body).text));
      await waitFor(
        async () => copiesIn(defaultSlack).length === 1 && copiesIn(spaSlack).length === 1,
        "the provider alert tried in both units' channels",
        30_000,
      );
      put = await admin('PUT', '/v1/units/default', { slack_webhook_url: null });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      put = await admin('PUT', '/v1/units/spa', { alerts: { muted: true } });
      assert.equal(put.status, 200, JSON.stringify(put.body));

      const copies = async () =>
        queryDatabase<{
          id: string;
          unit_id: string;
          state: string;
          attempts: number;
          last_error: string | null;
        }>(
          db.url,
          `SELECT id, unit_id, state, attempts, last_error FROM alert_notifications
            WHERE unit_id IS NOT NULL ORDER BY unit_id`,
        );
      const settled = await waitFor(
        async () => {
          const rows = await copies();
          // Tried again (the 5 s retry), or done with.
          const past = rows.every((r) => r.state !== 'pending' || Number(r.attempts) >= 2);
          return rows.length === 2 && past && rows;
        },
        'both copies past their retry',
        30_000,
        100,
      );
      assert.deepEqual(
        settled.map((r) => [r.unit_id === spa.body.id ? 'spa' : 'default', r.state]),
        [
          ['default', 'dropped'],
          ['spa', 'dropped'],
        ],
        JSON.stringify(settled),
      );
      for (const r of settled) assert.doesNotMatch(r.last_error ?? '', /services|127\.0\.0\.1/);
      assert.deepEqual(
        globalSlack.captured
          .map((c) => JSON.parse(c.body).text as string)
          .filter((t) => /; unit /.test(t)),
        [],
        'the global channel has the provider alert once, and no unit copy of it',
      );
      assert.equal(
        globalSlack.captured.filter((c) =>
          /^FIRING \[critical\] provider_failing \(sendgrid\)/.test(JSON.parse(c.body).text),
        ).length,
        1,
      );
      assert.equal(copiesIn(defaultSlack).length, 1, 'the removed channel is not posted to');
      assert.equal(copiesIn(spaSlack).length, 1, 'the muted unit is not paged again');

      // One line for each, at info, naming the notification and never a URL. (The line follows
      // the row's change: the pipe may bring it a moment later.)
      const droppedLines = () =>
        serve
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{') && l.includes('alert notification dropped'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      await waitFor(async () => droppedLines().length >= 2, 'the lines saying so');
      // A little longer: a second line for the same copy would come now.
      await new Promise((r) => setTimeout(r, 1_500));
      const dropped = droppedLines();
      assert.deepEqual(
        dropped.map((l) => l.notification).sort(),
        settled.map((r) => r.id).sort(),
        serve.output(),
      );
      for (const l of dropped) assert.equal(l.level, 30);
      assert.doesNotMatch(serve.output(), /\/services\/T0/, 'no Slack URL is logged');

      // SendGrid recovers. A copy dropped before it was sent told the unit nothing: no RESOLVED
      // follows it, to the muted unit's channel or to any other.
      await request(simulator.url, 'DELETE', '/_simulator/outage');
      await waitFor(
        async () =>
          globalSlack.captured.some((c) =>
            /^RESOLVED provider_failing/.test(JSON.parse(c.body).text),
          ),
        'the provider alert resolved in the global channel',
        30_000,
      );
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(spaSlack.captured.length, 1, "the spa's channel: the one failed try only");
      assert.equal(defaultSlack.captured.length, 1);
      assert.deepEqual(
        globalSlack.captured
          .map((c) => JSON.parse(c.body).text as string)
          .filter((t) => /; unit /.test(t)),
        [],
      );
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
      await handle.close();
      await db.cleanup();
      await simulator.close();
      await globalSlack.close();
      await defaultSlack.close();
      await spaSlack.close();
    }
  });
});

/**
 * Which unit channels get a provider alert's RESOLVED is read from the alert's notifications,
 * and notifications are pruned after TEGAMI_ALERT_RETENTION_DAYS. An outage that outlasted the
 * retention lost its unit channels that way: the hotel heard FIRING, its mail drained, the
 * alert fired on for two days of other units' mail, and the hotel never heard that it was over.
 */
describe(`a provider alert firing longer than the retention (${TEST_ENGINE})`, () => {
  const database = migratedDatabase();
  const MIN = 60_000;
  const DAY = 86_400_000;

  test('its RESOLVED still reaches every unit channel it told, and is pruned once it is over', async () => {
    const { handle } = database;
    const t0 = Date.now();
    let now = t0;
    const store = createAlertStore(handle);
    const hotel = { id: 'unit_01HOTEL0000000000000000000', name: 'hotel', createdAt: t0 };
    const shop = { id: 'unit_01SHOP00000000000000000000', name: 'shop', createdAt: t0 };
    for (const u of [hotel, shop]) {
      await handle.db
        .insertInto('units')
        .values({ id: u.id, name: u.name, created_at: t0 })
        .execute();
    }
    const ok = (_req: Captured, res: ServerResponse) => {
      res.writeHead(200).end('ok');
    };
    const globalSlack = await startCaptureServer(ok);
    const hotelSlack = await startCaptureServer(ok);
    await store.changeUnitSettings(
      hotel.id,
      (s) => ({ ...s, slackWebhookUrl: `${hotelSlack.url}/services/T0/B1/hotel` }),
      t0,
      (s) => newAuditEvent(OPERATOR, 'unit.update', { unitId: s.unitId, target: s.unitId }, t0),
    );

    // What the rules read: the provider down or not, and whose mail waits (always just due, so
    // no unit's delivery_delay fires).
    let providerDown = true;
    let waiting: { unitId: string; count: number }[] = [
      { unitId: hotel.id, count: 4 },
      { unitId: shop.id, count: 2 },
    ];
    const queries: MonitoringQueries = {
      pending: async (at) =>
        waiting.map((w) => ({
          unitId: w.unitId,
          lastErrorClass: 'http_5xx',
          lastOutcome: 'failed',
          lastProviderFault: 'unavailable',
          count: w.count,
          oldestSince: at,
        })),
      deadLettersSince: async () => [],
      unconfirmedByUnit: async () => new Map(),
      errorSample: async () => null,
      lastEventAt: async () => null,
      acceptedUnconfirmedAfter: async () => ({ count: 0, first: null }),
      countByStatusAndUnit: async () => [],
    };
    const health = {
      report: async () => {},
      remove: async () => {},
      list: async () => [
        {
          provider: 'sendgrid',
          reporter: 'worker-1',
          updatedAt: now,
          snapshot: {
            state: providerDown ? ('unavailable' as const) : ('healthy' as const),
            reason: providerDown ? 'HTTP 503 from SendGrid' : null,
            since: t0,
            nextCheckAt: null,
            consecutiveFailures: providerDown ? 3 : 0,
            accepted: 0,
            failed: 3,
            providerFailed: 3,
            recentErrors: [],
            credentials: null,
            answeredAt: null,
            failedProbeSentAt: null,
          },
        },
      ],
    };
    const poster = new GuardedPoster({ allowPrivate: true, timeoutMs: 5_000 });
    const post = (url: string, headers: Record<string, string>, body: string) =>
      poster.post(url, headers, body);
    const evaluator = startAlertEvaluator({
      lease: (holder) => new SqlLeaderLease(handle, 'alerts', holder),
      store,
      sources: {
        queries,
        health,
        listUnits: async () => [hotel, shop],
        configuredProvider: 'sendgrid',
        eventsExpected: false,
        unconfirmedAfterMs: 10 * MIN,
      },
      post,
      postTrusted: post,
      options: {
        thresholds: DEFAULT_ALERT_THRESHOLDS,
        forMs: 0,
        repeatMs: DAY,
        intervalMs: 3600_000,
        publicUrl: null,
        heartbeatUrl: null,
        retentionMs: DAY,
        slackWebhookUrl: `${globalSlack.url}/services/T0/B0/global`,
        webhookUrl: null,
        webhookSecret: null,
      },
      logger: pino({ level: 'silent' }),
      outage: { failed() {}, succeeded() {} },
      clock: () => now,
    });
    const texts = (slack: typeof globalSlack) =>
      slack.captured.map((c) => JSON.parse(c.body).text as string);
    const rows = () =>
      handle.db
        .selectFrom('alert_notifications')
        .select(['kind', 'unit_id'])
        .orderBy('created_at')
        .orderBy('unit_id')
        .execute();
    try {
      await evaluator.tick();
      now += MIN;
      await evaluator.tick();
      await waitFor(
        async () => texts(hotelSlack).some((t) => /^FIRING .*provider_failing/.test(t)),
        "the provider alert in the hotel's channel",
      );
      await waitFor(
        async () => texts(globalSlack).some((t) => /^FIRING .*provider_failing/.test(t)),
        'the provider alert in the global channel',
      );

      // The hotel's mail drains; the shop's waits on, for two days: the alert repeats in the
      // global channel only, and notifications older than the retention are pruned.
      waiting = [{ unitId: shop.id, count: 2 }];
      now += 2 * DAY;
      await evaluator.tick();
      await waitFor(
        async () => texts(globalSlack).some((t) => /^STILL FIRING .*provider_failing/.test(t)),
        'the repeat in the global channel',
      );
      assert.deepEqual(
        await rows(),
        [
          { kind: 'firing', unit_id: hotel.id },
          { kind: 'repeat', unit_id: null },
        ],
        "the global channel's older FIRING is pruned, the hotel's newest word is kept",
      );

      // SendGrid recovers: the alert resolves, in the global channel and in the hotel's.
      providerDown = false;
      waiting = [];
      await evaluator.tick();
      now += MIN;
      await evaluator.tick();
      assert.deepEqual((await store.firing()).length, 0, 'the alert resolved');
      await waitFor(
        async () => texts(hotelSlack).some((t) => /^RESOLVED provider_failing/.test(t)),
        "the RESOLVED in the hotel's channel",
      );
      await waitFor(
        async () => texts(globalSlack).some((t) => /^RESOLVED provider_failing/.test(t)),
        'the RESOLVED in the global channel',
      );

      // Once the alert is over, its notifications go with the retention like any other. A stand-in
      // has a post before the sender has marked it sent, and a pending one is never pruned: wait.
      await waitFor(async () => {
        const pending = await handle.db
          .selectFrom('alert_notifications')
          .select('id')
          .where('state', '=', 'pending')
          .execute();
        return pending.length === 0;
      }, 'the RESOLVED notifications marked sent');
      now += 2 * DAY;
      await evaluator.tick();
      assert.deepEqual(await rows(), []);
      assert.equal((await store.list({ limit: 10 })).length, 0);
    } finally {
      await evaluator.stop();
      await globalSlack.close();
      await hotelSlack.close();
    }
  });
});
