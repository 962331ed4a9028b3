import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, ConsoleMessage, Page, Request } from 'playwright-core';
import { jsonText } from '../src/console/html.ts';
import { message, request, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, signInAs } from './support/browser.ts';
import { startCaptureServer } from './support/capture-server.ts';
import { simulatorAcceptedIds } from './support/cluster.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * The console in a real browser (playwright-core driving Debian's Chromium): an operator signs in,
 * finds a guest's mail and opens it; the guest's HTML neither runs its script nor loads its
 * remote image; after an outage and a 400 bug, failed mail is recovered in bulk and sent; a
 * viewer is refused an operator action, also when the request is forged; a user of one unit
 * cannot see another unit's mail.
 */
const SG_KEY = 'SG.console-browser';
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';
const BOOKINGS = 12;

describe(`the console in a browser (${TEST_ENGINE})`, {
  skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
}, () => {
  let setup: SimulatorSetup;
  let tegami: TestService;
  let images: Awaited<ReturnType<typeof startCaptureServer>>;
  let browser: { context: BrowserContext; close: () => Promise<void> };
  let page: Page;
  let hotelKey: string;
  let restaurantKey: string;
  let guestMessage: string;
  let restaurantMessage: string;
  let bookings: string[] = [];
  const statuses = async (ids: string[]) =>
    Promise.all(
      ids.map(
        async (id) => (await tegami.request('GET', `/v1/messages/${id}`)).body.status as string,
      ),
    );

  before(async () => {
    images = await startCaptureServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'image/gif' })
        .end(Buffer.from('R0lGODlhAQABAAAAACw=', 'base64'));
    });
    setup = await startWithSimulator(SG_KEY, {
      TEGAMI_SENDGRID_TIMEOUT_MS: '400',
      TEGAMI_PROVIDER_FAILURE_THRESHOLD: '3',
      TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '200',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    ({ tegami } = setup);
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });
  after(async () => {
    await browser?.close();
    await setup?.stop();
    await images?.close();
  });

  async function newKey(unit: string, name: string): Promise<string> {
    await page.goto(`${tegami.url}/console/keys`);
    await page.fill('input[name=name]', name);
    await page.selectOption('select[name=unit]', { label: unit });
    await page.click('form[action="/console/keys"] button[type=submit]');
    return (await page.textContent('[data-new-key]'))?.trim() ?? '';
  }

  async function newUser(email: string, role: string, unit: string | null) {
    await page.goto(`${tegami.url}/console/users`);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', PASSWORD);
    await page.selectOption('select[name=role]', role);
    if (unit) await page.selectOption('select[name=units]', { label: unit });
    await Promise.all([
      page.waitForURL(/\/console\/users\?created=usr_/),
      page.click('form[action="/console/users"] button[type=submit]'),
    ]);
    assert.ok(await page.isVisible(`td:text-is("${email}")`), `${email} is listed`);
  }

  async function submit(key: string, body: Record<string, unknown>): Promise<string> {
    const r = await request(tegami.url, 'POST', '/v1/messages', message(body), {}, key);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id;
  }

  test('an admin signs in and sets up units, keys and users', async () => {
    for (const name of ['hotel', 'restaurant']) {
      assert.equal((await tegami.request('POST', '/v1/units', { name })).status, 201);
    }
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    assert.equal(await page.textContent('h1'), 'Overview');
    hotelKey = await newKey('hotel', 'hotel app');
    restaurantKey = await newKey('restaurant', 'restaurant app');
    assert.match(hotelKey, /^tgm_/);
    await newUser('operator@example.jp', 'operator', null);
    await newUser('viewer@example.jp', 'viewer', null);
    await newUser('hotel-staff@example.jp', 'operator', 'hotel');
  });

  test("the overview's live sections and its chart share one request at each refresh, and still update", async () => {
    const overview = `${tegami.url}/console`;
    const numbers = `${tegami.url}/console/overview.json`;
    await page.goto(overview);
    assert.equal(
      await page.locator('[data-poll]').count(),
      4,
      "four live sections, the chart's numbers one of them",
    );
    await page.waitForSelector('#traffic-chart canvas');
    // The page fetched again by console.js (a fetch), not the page opened (a document); and the
    // chart's numbers asked for apart, as the chart did before it took them from the page.
    let refreshes = 0;
    const counted = (r: Request) => {
      if ((r.url() === overview && r.resourceType() === 'fetch') || r.url().startsWith(numbers))
        refreshes++;
    };
    page.on('request', counted);
    try {
      const accepted = async () =>
        Number((await page.textContent('[data-tile="accepted"]'))?.replace(/,/g, ''));
      const charted = async () =>
        Number(await page.getAttribute('#traffic-chart', 'data-accepted'));
      const before = await accepted();
      assert.equal(await charted(), before, 'the chart draws the numbers the tiles count');
      await submit(hotelKey, { subject: 'counted on the overview' });
      // 25 s of refreshes every 10 s: two ticks, one request each, the chart's numbers in it (a
      // request per section made six; the chart asking for its own, up to six with the page's).
      await page.waitForTimeout(25_000);
      assert.ok(refreshes >= 2 && refreshes <= 3, `${refreshes} requests in 25 s`);
      assert.equal(await accepted(), before + 1, 'the tiles were redrawn from the shared answer');
      assert.equal(await charted(), before + 1, 'the chart was redrawn from the shared answer');
    } finally {
      page.off('request', counted);
    }
  });

  test('a tab in the background asks for nothing, and a page whose session ended says it no longer updates', async () => {
    const other = await launchBrowser();
    try {
      const tab = await other.context.newPage();
      await signInAs(tab, tegami.url, ADMIN.email, ADMIN.password);
      const overview = `${tegami.url}/console`;
      await tab.goto(overview);
      let refreshes = 0;
      tab.on('request', (r) => {
        if (r.url() === overview && r.resourceType() === 'fetch') refreshes++;
      });
      // Headless Chromium shows every tab: the page is told it is hidden as a browser tells it.
      const visibility = (hidden: boolean) =>
        tab.evaluate(`(() => {
          Object.defineProperty(document, 'hidden', { value: ${hidden}, configurable: true });
          document.dispatchEvent(new Event('visibilitychange'));
        })()`);
      await visibility(true);
      await tab.waitForTimeout(12_000);
      assert.equal(refreshes, 0, 'a hidden tab asked for the page');
      // Shown again, it asks at once instead of showing numbers as old as its time away.
      await visibility(false);
      await waitFor(async () => refreshes === 1, 'one request when the tab is shown again', 3_000);
      // The session ends (signed out elsewhere, expired): the next refresh is answered with the
      // sign-in page, and the page says so and stops asking.
      await other.context.clearCookies();
      const ended = tab.locator('#session-ended[role="alert"]');
      await ended.waitFor({ timeout: 15_000 });
      assert.match(
        (await ended.textContent()) ?? '',
        /Your session has ended: this page no longer updates/,
      );
      assert.match(
        (await ended.locator('a').getAttribute('href')) ?? '',
        /^\/console\/sign-in\?next=%2Fconsole/,
      );
      const asked = refreshes;
      await tab.waitForTimeout(12_000);
      assert.equal(refreshes, asked, 'no request after the session ended');
    } finally {
      await other.close();
    }
  });

  test('after an outage and a 400 bug, failed mail is recovered in bulk and sent', async () => {
    // An outage (502 pages) while mail comes in: held, then sent once it is over.
    await setup.control('POST', '/outage', { mode: 'html-502', durationMs: 1500 });
    const during: string[] = [];
    for (let i = 0; i < 3; i++)
      during.push(await submit(hotelKey, { subject: `during outage ${i}` }));
    // Then a payload bug: SendGrid refuses one kind of mail with a 400; it dead-letters.
    await setup.control('PUT', '/faults', { rejectCategories: ['booking'] });
    bookings = [];
    for (let i = 0; i < BOOKINGS; i++) {
      bookings.push(
        await submit(hotelKey, {
          to: [{ email: `booker-${i}@example.jp` }],
          subject: `ご予約 ${i}`,
          categories: ['booking'],
        }),
      );
    }
    await waitFor(
      async () => (await statuses(bookings)).every((s) => s === 'failed'),
      'bookings failed',
      30_000,
    );
    await waitFor(
      async () => (await statuses(during)).every((s) => s === 'sent'),
      'outage mail sent',
      30_000,
    );
    // The fix is deployed.
    await setup.control('PUT', '/faults', {});

    await signInAs(page, tegami.url, 'operator@example.jp', PASSWORD);
    await page.goto(
      `${tegami.url}/console/unsent?q=${encodeURIComponent('reason:failed category:booking')}`,
    );
    assert.equal((await page.textContent('[data-total]'))?.trim(), String(BOOKINGS));
    assert.ok(
      await page.isVisible('text=The content value must be a string'),
      "the provider's own error text",
    );
    await page.click('text=Dry run…');
    assert.equal((await page.textContent('[data-matched]'))?.trim(), String(BOOKINGS));
    // A wrong count starts nothing.
    await page.fill('input[name=confirm]', '5');
    await page.click('text=Start the retry');
    assert.ok(await page.isVisible('text=The number typed (5) does not match'));
    await page.fill('input[name=confirm]', String(BOOKINGS));
    await Promise.all([
      page.waitForURL(/\/console\/recoveries\/rec_/),
      page.click('text=Start the retry'),
    ]);
    // The progress updates in place until the recovery is done.
    await page.waitForSelector('#progress .s-done', { timeout: 30_000 });
    // A finished recovery has nothing left to stop.
    assert.equal(await page.isVisible('text=Stop this recovery'), false);
    assert.equal((await page.textContent('[data-count="done"]'))?.trim(), String(BOOKINGS));
    await waitFor(
      async () => (await statuses(bookings)).every((s) => s === 'sent'),
      'bookings sent',
      30_000,
    );
    const accepted = await simulatorAcceptedIds(setup.simulator.url);
    for (const id of bookings) assert.equal(accepted.get(id), 1, `${id} sent once`);
    await page.goto(`${tegami.url}/console/audit`);
    assert.ok(await page.isVisible('td:has-text("recovery.start")'));
    assert.ok(await page.isVisible('td:has-text("operator@example.jp")'));
    // The overview draws the last hour (uPlot, served from the package).
    await page.goto(`${tegami.url}/console`);
    await page.waitForSelector('#traffic-chart canvas');
    assert.ok(
      Number((await page.textContent('[data-tile="sent"]'))?.replace(/,/g, '')) >= BOOKINGS,
    );
  });

  test("a recovery's outcome is a live region, read out when the requeued mail goes out and not at each refresh", async () => {
    // Mail refused by a payload bug, then retried while the provider is down: requeued, it waits.
    await setup.control('PUT', '/faults', { rejectCategories: ['late'] });
    const late: string[] = [];
    for (let i = 0; i < 2; i++) {
      late.push(await submit(hotelKey, { subject: `late ${i}`, categories: ['late'] }));
    }
    await waitFor(
      async () => (await statuses(late)).every((s) => s === 'failed'),
      'late mail failed',
      30_000,
    );
    await setup.control('PUT', '/faults', {});
    await setup.control('POST', '/outage', { mode: 'html-502', durationMs: 120_000 });
    try {
      await page.goto(
        `${tegami.url}/console/recoveries/dry-run?q=${encodeURIComponent('reason:failed category:late')}&action=retry`,
      );
      await page.fill('input[name=confirm]', '2');
      await Promise.all([
        page.waitForURL(/\/console\/recoveries\/rec_/),
        page.click('text=Start the retry'),
      ]);
      const recoveryUrl = page.url();
      const region = page.locator('#recovery-outcome');
      const outcome = (sent: number, waiting: number) =>
        `Of 2 messages requeued: ${sent} sent since, 0 failed again, ${waiting} still waiting.`;
      assert.equal(await region.getAttribute('role'), 'status');
      assert.equal(await region.getAttribute('aria-atomic'), 'true');
      await page.waitForSelector('#progress .s-done', { timeout: 30_000 });
      await waitFor(
        async () => (await region.textContent())?.includes(outcome(0, 2)),
        `the outcome: 0 sent, 2 waiting`,
        30_000,
      );
      // One sentence is read out, not the card around it.
      assert.equal(await page.locator('#recovery-outcome :is(table, dl, progress)').count(), 0);
      await page.evaluate(`(() => {
        window.outcomeRegion = document.getElementById('recovery-outcome');
        window.outcomeChanges = 0;
        new MutationObserver(() => window.outcomeChanges++).observe(window.outcomeRegion, {
          childList: true,
          subtree: true,
          characterData: true,
        });
      })()`);
      // A refresh (every 10 s while mail waits) that finds nothing new puts nothing in.
      await page.waitForResponse((r) => r.url() === recoveryUrl, { timeout: 15_000 });
      await page.waitForTimeout(500);
      assert.equal(await page.evaluate('window.outcomeChanges'), 0);
      // The provider is back: the mail goes out, and the same region says so.
      await setup.control('DELETE', '/outage');
      await waitFor(
        async () => (await region.textContent())?.includes(outcome(2, 0)),
        `the outcome: 2 sent, 0 waiting`,
        40_000,
      );
      assert.ok(Number(await page.evaluate('window.outcomeChanges')) > 0);
      assert.equal(
        await page.evaluate("window.outcomeRegion === document.getElementById('recovery-outcome')"),
        true,
        'the region stays in place, so its new words are read out',
      );
    } finally {
      await setup.control('DELETE', '/outage');
    }
  });

  test("an operator finds a guest's mail; its HTML runs no script and loads no remote image", async () => {
    guestMessage = await submit(hotelKey, {
      to: [{ email: 'guest@example.jp', name: '山田 花子' }],
      subject: 'ご予約ありがとうございます',
      text: '山田様、ご予約ありがとうございます。',
      html: `<p id="greeting">山田様、ようこそ</p><script>document.body.dataset.ran = 'yes'; parent.document.title = 'pwned';</script><img id="remote" src="${images.url}/pixel.gif">`,
    });
    restaurantMessage = await submit(restaurantKey, {
      to: [{ email: 'diner@example.jp' }],
      subject: 'ディナーのご案内',
    });
    await waitFor(
      async () => (await statuses([guestMessage, restaurantMessage])).every((s) => s === 'sent'),
      'sent',
    );

    await page.goto(`${tegami.url}/console/messages`);
    await page.fill('input[name=q]', 'to:guest@example.jp');
    await page.press('input[name=q]', 'Enter');
    await page.waitForURL(/q=to%3Aguest%40example.jp/);
    await page.click('text=ご予約ありがとうございます');
    await page.waitForURL(new RegExp(`/console/messages/${guestMessage}`));
    assert.equal(await page.textContent('h1'), 'ご予約ありがとうございます');
    const frame = page.frame({ name: 'message-body' });
    assert.ok(frame, 'the HTML is in its own frame');
    await frame.waitForSelector('#greeting');
    assert.equal(await frame.textContent('#greeting'), '山田様、ようこそ');
    assert.equal(await frame.getAttribute('body', 'data-ran'), null, 'the script did not run');
    assert.notEqual(await page.title(), 'pwned');
    assert.equal(await page.getAttribute('iframe[name=message-body]', 'sandbox'), '');
    await page.waitForTimeout(300);
    assert.equal(images.captured.length, 0, 'the remote image was not loaded');
    // Loading images is the viewer's choice, once; still no script.
    await page.click('text=Load remote images once');
    await waitFor(async () => images.captured.length > 0 || null, 'the image loaded on request');
    assert.equal(
      await page.frame({ name: 'message-body' })?.getAttribute('body', 'data-ran'),
      null,
    );
    // Clicking a value filters by it.
    await page.click(`a.filter:text-is("guest@example.jp")`);
    await page.waitForURL(/\/console\/messages\?q=/);
    assert.match(await page.inputValue('input[name=q]'), /to:guest@example.jp/);
  });

  test('a viewer is refused an operator action, also when the request is forged', async () => {
    await setup.control('PUT', '/faults', { rejectCategories: ['late'] });
    const again = await submit(hotelKey, { subject: 'will fail too', categories: ['late'] });
    await waitFor(
      async () => (await statuses([again])).every((s) => s === 'failed'),
      'failed',
      30_000,
    );
    await setup.control('PUT', '/faults', {});
    await signInAs(page, tegami.url, 'viewer@example.jp', PASSWORD);
    await page.goto(`${tegami.url}/console/messages/${again}`);
    assert.equal(await page.isVisible('button:text-is("Retry")'), false, 'no button for a viewer');
    // The form's token is the viewer's own: the request is valid in every way but the role.
    const token = (await page.getAttribute('input[name=_csrf]', 'value')) ?? '';
    const forged = await page.evaluate(
      async ({ id, token }) => {
        const r = await fetch(`/console/messages/${id}/retry`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: token }),
        });
        return r.status;
      },
      { id: again, token },
    );
    assert.equal(forged, 403);
    assert.deepEqual(await statuses([again]), ['failed'], 'nothing changed');
    await page.goto(`${tegami.url}/console/unsent?q=reason:failed`);
    assert.equal(await page.isVisible('text=Dry run…'), false);
  });

  test("a user of the hotel unit cannot see the restaurant's mail", async () => {
    await signInAs(page, tegami.url, 'hotel-staff@example.jp', PASSWORD);
    await page.goto(
      `${tegami.url}/console/messages?q=${encodeURIComponent('to:diner@example.jp')}`,
    );
    assert.ok(await page.isVisible('text=No message matches.'));
    const direct = await page.goto(`${tegami.url}/console/messages/${restaurantMessage}`);
    assert.equal(direct?.status(), 404);
    assert.equal(await page.isVisible('text=ディナーのご案内'), false);
    await page.goto(
      `${tegami.url}/console/messages?q=${encodeURIComponent('to:guest@example.jp')}`,
    );
    assert.ok(await page.isVisible('text=ご予約ありがとうございます'));
  });

  test("a provider named with </script> in it breaks neither the overview nor its chart's numbers", async () => {
    const hostile = '</script><script>document.body.dataset.ran = "yes"</script><!--';
    // The chart's numbers are a JSON script element: a string in one, read back by the browser's
    // own parser, ends nothing early and runs nothing.
    await page.setContent(
      `<script type="application/json" id="data">${jsonText({ name: hostile, n: [1, 2] })}</script><p id="after">after</p>`,
    );
    assert.deepEqual(JSON.parse((await page.textContent('#data')) ?? ''), {
      name: hostile,
      n: [1, 2],
    });
    assert.equal(await page.textContent('#after'), 'after');
    assert.equal(await page.getAttribute('body', 'data-ran'), null);

    // On the overview, whose Providers table names it; the page's CSP refuses nothing on it.
    await tegami.service.database.db
      .updateTable('attempts')
      .set({ provider: hostile })
      .where('message_id', '=', restaurantMessage)
      .execute();
    const errors: string[] = [];
    const noted = (m: ConsoleMessage) => {
      if (m.type() === 'error') errors.push(m.text());
    };
    const thrown = (e: Error) => errors.push(e.message);
    page.on('console', noted);
    page.on('pageerror', thrown);
    try {
      await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
      await page.goto(`${tegami.url}/console`);
      await page.waitForSelector('#traffic-chart canvas');
      assert.ok(
        (await page.locator('#overview-tables td').allTextContents()).includes(hostile),
        'the provider is named as it is',
      );
      assert.equal(await page.locator('[data-poll]').count(), 4);
      const chart = JSON.parse((await page.textContent('#traffic-chart-data')) ?? '');
      assert.equal(chart.minutes.length, 60);
      assert.equal(await page.getAttribute('body', 'data-ran'), null);
      assert.deepEqual(errors, []);
    } finally {
      page.off('console', noted);
      page.off('pageerror', thrown);
    }
  });
});
