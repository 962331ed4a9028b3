import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAlertStore } from '../src/store/alerts/index.ts';
import { startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { firingAlert } from './support/alerts.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * An outage gives every unit its own delay alert, so more alerts may fire than a page lists (20
 * on the overview, 100 on the alerts page). The count must not then read as the number listed:
 * "more than 20" on the overview's tile and "Firing (more than 100)" on the alerts page, with
 * where to find every one.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

describe(`console, more alerts firing than a page lists (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;

  async function fire(count: number, from: number): Promise<void> {
    const store = createAlertStore(tegami.service.database);
    for (let i = from; i < from + count; i++)
      assert.equal(
        await store.open(
          firingAlert({ key: `delivery_delay:unit-${i}`, summary: `delay ${i}` }),
          [],
        ),
        true,
      );
  }

  const tile = (text: string) =>
    /<span class="n" data-tile="alerts">([^<]*)<\/span> (alerts?) firing/.exec(text)?.slice(1);

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
      // No evaluation round resolves the alerts made here.
      TEGAMI_ALERT_INTERVAL_MS: '3600000',
    });
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });
  after(async () => {
    await tegami.stop();
  });

  test('up to a page, the count is the number listed; past it, "more than" and a way to every one', async () => {
    await fire(20, 0);
    let overview = await admin.get('/console');
    assert.equal(overview.status, 200);
    assert.deepEqual(tile(overview.text), ['20', 'alerts']);
    assert.doesNotMatch(overview.text, /More are firing/);

    await fire(1, 20);
    overview = await admin.get('/console');
    assert.deepEqual(tile(overview.text), ['more than 20', 'alerts']);
    assert.equal(overview.text.match(/data-alert-link/g)?.length, 20, 'the list stays 20 long');
    assert.match(
      overview.text,
      /<a href="\/console\/alerts">More are firing: every one on the Alerts page →<\/a>/,
    );

    let alerts = await admin.get('/console/alerts');
    assert.match(alerts.text, /<h2>Firing \(21\)<\/h2>/);
    await fire(80, 21);
    alerts = await admin.get('/console/alerts');
    assert.match(alerts.text, /<h2>Firing \(more than 100\)<\/h2>/);
    assert.match(alerts.text, /GET \/v1\/alerts\?state=firing<\/code> pages through every one/);
    const listed = await tegami.request('GET', '/v1/alerts?state=firing&limit=200');
    assert.equal(listed.body.data.length, 101, 'the API lists every one');
  });
});
