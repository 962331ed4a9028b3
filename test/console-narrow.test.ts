import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
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
});
