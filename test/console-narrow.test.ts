import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { API_STEP_HINTS } from '../src/domain/alerts/rules.ts';
import { createAlertStore } from '../src/store/alerts/index.ts';
import {
  createUnitWithKey,
  message,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, signInAs } from './support/browser.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

/**
 * The console on a phone (375 px wide, in an incident away from a desk): no page is wider than
 * the screen. Wide tables scroll on their own; a message's long id, addresses and subject wrap.
 * Before, the search and the unsent list were 800–900 px wide, and a message's id and address ran
 * out of its card and off the screen.
 */
describe(`the console at 375 px (${TEST_ENGINE})`, {
  skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
}, () => {
  let tegami: TestService;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let id: string;
  let recoveryId: string;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    const long = message({
      to: [
        {
          email: 'reservations-department-tokyo-station@very-long-domain.example.jp',
          name: '田中 一郎',
        },
      ],
      subject:
        '【ホテル東京ステーション】ご予約の確認とチェックインのご案内（予約番号 B-2026-12-05-000123）',
      categories: ['booking'],
      metadata: { booking_id: 'B-2026-12-05-000123-TOKYO-STATION-HOTEL' },
    });
    const r = await tegami.request('POST', '/v1/messages', long);
    assert.equal(r.status, 202);
    id = r.body.id;
    await waitFor(
      async () => (await tegami.request('GET', `/v1/messages/${id}`)).body.status !== 'queued',
      'the test provider to take it',
    );
    const recovery = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      dry_run: false,
      filter: { status: 'failed', category: 'booking' },
    });
    assert.equal(recovery.status, 202);
    recoveryId = recovery.body.id;
    // An alert about a unit, for the alerts page.
    const hotel = await createUnitWithKey(tegami, 'hotel-tokyo-station');
    const now = Date.now();
    assert.ok(
      await createAlertStore(tegami.service.database).open(
        {
          id: `alt_${String(now).padStart(13, '0')}0000000000001`,
          key: `dead_letters:${hotel.id}`,
          rule: 'dead_letters',
          severity: 'warning',
          state: 'firing',
          unitId: hotel.id,
          provider: null,
          fault: 'message',
          summary:
            '12 messages of unit hotel-tokyo-station failed (dead-lettered) in the last 300 s, most with http_400',
          hint: API_STEP_HINTS.deadLetters,
          evidence: {
            count: 12,
            threshold: 0,
            since: now,
            topErrors: [
              {
                errorClass: 'http_400',
                count: 12,
                sample: 'The content value must be a string at least one character in length.',
              },
            ],
            provider: null,
            details: {},
          },
          startedAt: now,
          endedAt: null,
          lastNotifiedAt: now,
          updatedAt: now,
        },
        [],
      ),
    );
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.setViewportSize({ width: 375, height: 740 });
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
  });
  after(async () => {
    await browser?.close();
    await tegami?.stop();
  });

  test('no page is wider than the screen', async () => {
    for (const path of [
      '/console',
      '/console/messages?q=to%3A%40very-long-domain.example.jp',
      `/console/messages/${id}`,
      '/console/unsent',
      '/console/audit',
      '/console/users',
      '/console/alerts',
      `/console/recoveries/${recoveryId}`,
    ]) {
      const r = await page.goto(`${tegami.url}${path}`);
      assert.equal(r?.status(), 200, path);
      const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
      assert.ok(width <= 375, `${path} is ${width} px wide`);
    }
    // The search's results are all there, in a table that scrolls by itself.
    await page.goto(`${tegami.url}/console/messages?q=to%3A%40very-long-domain.example.jp`);
    const link = page.locator(`a[href^="/console/messages/${id}"]`);
    assert.equal(await link.count(), 1);
    await link.scrollIntoViewIfNeeded();
    assert.ok(await link.isVisible());
  });

  test("at 380 px an alert's unit is in view without scrolling sideways; at 1280 px it is a column", async () => {
    const unitCell = page.locator('table.alerts td.unit').first();
    const sideways = `(() => {
      const t = document.querySelector('table.alerts');
      return { table: t.scrollWidth - t.clientWidth, page: document.documentElement.scrollWidth };
    })()`;
    await page.setViewportSize({ width: 380, height: 740 });
    try {
      await page.goto(`${tegami.url}/console/alerts`);
      assert.equal((await unitCell.textContent())?.trim(), 'hotel-tokyo-station');
      const box = await unitCell.boundingBox();
      assert.ok(box);
      assert.ok(
        box.x >= 0 && box.x + box.width <= 380,
        `the unit at x ${box.x}, ${box.width} wide`,
      );
      const narrow = (await page.evaluate(sideways)) as { table: number; page: number };
      assert.ok(narrow.table <= 0, `the table scrolls ${narrow.table} px sideways`);
      assert.ok(narrow.page <= 380, `the page is ${narrow.page} px wide`);
      // Named by its column, as the header row is not shown.
      assert.equal(
        await page.evaluate(
          "getComputedStyle(document.querySelector('table.alerts td.unit'), '::before').content",
        ),
        '"Unit "',
      );

      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`${tegami.url}/console/alerts`);
      assert.ok(await page.isVisible('table.alerts th:text-is("Unit")'), 'the column header');
      const wide = await unitCell.boundingBox();
      const alert = await page.locator('table.alerts td.alert').first().boundingBox();
      assert.ok(wide && alert);
      assert.ok(wide.x > alert.x + alert.width - 1, 'the unit is a column right of the alert');
      assert.equal(Math.round(wide.y), Math.round(alert.y), 'in the same row');
      assert.ok(wide.x + wide.width <= 1280);
      const table = (await page.evaluate(sideways)) as { table: number; page: number };
      assert.ok(table.table <= 0 && table.page <= 1280, JSON.stringify(table));
    } finally {
      await page.setViewportSize({ width: 375, height: 740 });
    }
  });
});
