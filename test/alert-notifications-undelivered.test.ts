import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Alert } from '../src/domain/alerts/lifecycle.ts';
import { createAlertStore } from '../src/store/alerts/index.ts';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import {
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type Captured, startCaptureServer } from './support/capture-server.ts';
import { signIn } from './support/console.ts';

/**
 * An alerting drill removed the Slack webhook mid-incident: alerts kept firing, Slack answered
 * every post `404 no_service`, and only the log said so. Nobody reads the log during an incident
 * they were not told about. Failing notifications are now a gauge and a notice on the console's
 * Alerts page, with Slack's words.
 */
describe(`alert notifications that do not get through (${TEST_ENGINE})`, () => {
  const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
  let tegami: TestService;
  let slack: Awaited<ReturnType<typeof startCaptureServer>>;

  before(async () => {
    slack = await startCaptureServer((_req: Captured, res) => {
      res.writeHead(404, { 'content-type': 'text/html' }).end('no_service');
    });
    tegami = await startTestService({
      TEGAMI_SLACK_WEBHOOK_URL: `${slack.url}/services/T0/B0/removed`,
      // One evaluation at start (it takes the alerts lease); the notifier polls every second.
      TEGAMI_ALERT_INTERVAL_MS: '3600000',
      TEGAMI_METRICS_CACHE_S: '0',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
  });
  after(async () => {
    await tegami?.stop();
    await slack?.close();
  });

  const undelivered = async () =>
    (await (await fetch(`${tegami.url}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('tegami_alert_notifications_undelivered{'));

  test('a Slack that refuses every post shows on /metrics and the Alerts page', async () => {
    assert.deepEqual(
      (await undelivered()).sort(),
      [
        'tegami_alert_notifications_undelivered{channel="slack",unit="",state="given_up"} 0',
        'tegami_alert_notifications_undelivered{channel="slack",unit="",state="retrying"} 0',
        'tegami_alert_notifications_undelivered{channel="webhook",unit="",state="given_up"} 0',
        'tegami_alert_notifications_undelivered{channel="webhook",unit="",state="retrying"} 0',
      ],
      'nothing failing reads 0, not no series',
    );
    const store = createAlertStore(tegami.service.database);
    const now = Date.now();
    const alert: Alert = {
      id: 'alt_00000000000000000000undeliv',
      key: 'provider_failing:sandbox',
      rule: 'provider_failing',
      severity: 'critical',
      state: 'firing',
      unitId: null,
      provider: 'sandbox',
      fault: 'provider',
      summary: 'provider sandbox is unavailable',
      hint: 'wait',
      evidence: { count: 1, threshold: 0, since: now, topErrors: [], provider: null, details: {} },
      startedAt: now,
      endedAt: null,
      lastNotifiedAt: now,
      updatedAt: now,
    };
    const opened = await store.open(alert, [
      {
        id: 'ntf_00000000000000000000undeliv',
        alertId: alert.id,
        kind: 'firing',
        channel: 'slack',
        unitId: null,
        payload: JSON.stringify({ text: 'FIRING' }),
        attempts: 0,
        createdAt: now,
      },
    ]);
    assert.equal(opened, true);
    await waitFor(async () => slack.captured.length >= 1, 'a post to Slack');
    const retrying =
      'tegami_alert_notifications_undelivered{channel="slack",unit="",state="retrying"} 1';
    await waitFor(async () => (await undelivered()).includes(retrying), 'the gauge counting it');

    const console = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const page = await console.get('/console/alerts');
    assert.equal(page.status, 200);
    assert.match(page.text, /Alert notifications are not getting through/);
    assert.match(
      page.text,
      /The Slack channel \(TEGAMI_SLACK_WEBHOOK_URL\): 1 notification failing, still retried/,
    );
    assert.match(page.text, /Last error: <span class="sample">[^<]*404/);
    assert.ok(!page.text.includes('/services/T0/B0/removed'), 'the URL is a credential');

    // Given up (a day of failures): counted as such, and still shown.
    await store.notificationFailed('ntf_00000000000000000000undeliv', 'HTTP 404', null);
    const givenUp =
      'tegami_alert_notifications_undelivered{channel="slack",unit="",state="given_up"} 1';
    const lines = await undelivered();
    assert.ok(lines.includes(givenUp), lines.join('\n'));
    assert.ok(lines.includes(retrying.replace(/ 1$/, ' 0')), lines.join('\n'));
    assert.match(
      (await console.get('/console/alerts')).text,
      /1 notification given up in the last 24 h/,
    );
  });
});

describe(`a notification given up after a day of failures (${TEST_ENGINE})`, () => {
  test('counts as given up for the 24 hours after it was given up, not after it was made', async (t) => {
    const temp = tempDatabase();
    const handle = openDatabase(temp.url);
    t.after(async () => {
      await handle.close();
      await temp.cleanup();
    });
    await migrateToLatest(handle.db);
    const store = createAlertStore(handle);
    const now = Date.now();
    const made = now - 24 * 3600_000 - 5 * 60_000;
    await store.open(
      {
        id: 'alt_0000000000000000000000dayold',
        key: 'dead_letters:global',
        rule: 'dead_letters',
        severity: 'warning',
        state: 'firing',
        unitId: null,
        provider: null,
        fault: 'message',
        summary: 'dead letters',
        hint: 'look',
        evidence: {
          count: 1,
          threshold: 0,
          since: made,
          topErrors: [],
          provider: null,
          details: {},
        },
        startedAt: made,
        endedAt: null,
        lastNotifiedAt: made,
        updatedAt: made,
      },
      [
        {
          id: 'ntf_0000000000000000000000dayold',
          alertId: 'alt_0000000000000000000000dayold',
          kind: 'firing',
          channel: 'webhook',
          unitId: null,
          payload: '{}',
          attempts: 0,
          createdAt: made,
        },
      ],
    );
    // Retried all day; its last try, now, fails too and the notifier gives up.
    await store.notificationFailed('ntf_0000000000000000000000dayold', 'HTTP 502', now);
    await store.notificationFailed('ntf_0000000000000000000000dayold', 'HTTP 503', null);
    assert.deepEqual(await store.undeliveredNotifications(now - 24 * 3600_000), [
      { channel: 'webhook', unitId: null, retrying: 0, givenUp: 1, lastError: 'HTTP 503' },
    ]);
  });
});
