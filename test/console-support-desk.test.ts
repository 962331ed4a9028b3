import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { TEST_ENGINE, type TestService } from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, signInAs } from './support/browser.ts';
import { deadLetters, submitMessage, untilDeliveryStatus, untilStatus } from './support/console.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const SG_KEY = 'SG.support-desk';

/**
 * A guest calls: "I booked but got no confirmation". Support finds out why in the console, on a
 * laptop and on a phone: an empty search says how to find a guest (a bare word searches subjects,
 * and a name may be stored in another script); part of the address finds the mail; the results say that a `sent` confirmation bounced; a
 * message failed without an attempt says why (every recipient suppressed) and leads to the
 * suppression list, where an address not on it says so. Then on-call recovers failed mail: Back
 * from a wrong count or from the recovery goes to the dry run again, not to an error page. The
 * audit log keeps a date it did not understand, and says so.
 */
describe(`the console at a support desk (${TEST_ENGINE})`, {
  skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
}, () => {
  let setup: SignedEventsSetup;
  let tegami: TestService;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    setup = await startWithSignedEvents({
      apiKey: SG_KEY,
      env: { TEGAMI_ADMIN_EMAIL: ADMIN.email, TEGAMI_ADMIN_PASSWORD: ADMIN.password },
    });
    ({ tegami } = setup);
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && m.text().startsWith('Failed to load')) errors.push(m.text());
    });
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
  });
  after(async () => {
    await browser?.close();
    await setup?.stop();
  });

  test('a bounced confirmation, and the next one never sent: the search and the message say why', async () => {
    const bounced = await submitMessage(tegami, {
      to: [{ email: 'bounce@example.jp', name: '田中 一郎' }],
      subject: 'ご予約の確認',
    });
    await untilDeliveryStatus(tegami, bounced, 'bounced');
    // The bounce put the address on the suppression list: the next mail is not sent at all.
    const suppressed = await submitMessage(tegami, {
      to: [{ email: 'bounce@example.jp', name: '田中 一郎' }],
      subject: 'ご予約の確認',
    });
    await untilStatus(tegami, suppressed, 'failed');

    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 800 });
      // The guest's name, as a bare word and as to: text (the name is stored as 田中 一郎):
      // neither finds the mail, and the page says how to.
      await page.goto(`${tegami.url}/console/messages?q=tanaka`);
      const bare = (await page.textContent('#no-match')) ?? '';
      assert.match(bare, /A word without a key \(tanaka\) searches subjects/);
      assert.match(bare, /search part of their address or name/);
      await page.goto(`${tegami.url}/console/messages?q=${encodeURIComponent('to:tanaka')}`);
      assert.match(
        (await page.textContent('#no-match')) ?? '',
        /No recipient's address or name holds tanaka; a name may be written in another script/,
      );
      // The start of the address finds both mails.
      await page.goto(`${tegami.url}/console/messages?q=${encodeURIComponent('to:bounce')}`);
      assert.equal(await page.locator('table.list tbody tr').count(), 2);
      await page.goto(
        `${tegami.url}/console/messages?q=${encodeURIComponent('to:nobody@example.jp')}`,
      );
      assert.equal(await page.locator('#no-match').count(), 0, 'an address needs no hint');
      assert.ok(await page.isVisible('text=No message matches.'));

      // The whole address: the first mail was sent, and bounced; the second failed.
      await page.goto(
        `${tegami.url}/console/messages?q=${encodeURIComponent('to:Bounce@example.jp')}`,
      );
      const rows = page.locator('table.list tbody tr');
      assert.equal(await rows.count(), 2);
      assert.equal((await rows.nth(1).locator('.badge.s-sent').textContent())?.trim(), 'sent');
      assert.equal(
        (await rows.nth(1).locator('.badge.d-bounced').textContent())?.trim(),
        'bounced',
      );
      assert.equal(await rows.nth(0).locator('.badge.s-failed').count(), 1);
      await assertFits(page, width, 'the search');

      await Promise.all([
        page.waitForURL(new RegExp(`/console/messages/${suppressed}`)),
        rows.nth(0).locator('a').click(),
      ]);
      assert.match(
        (await page.textContent('[data-why]')) ?? '',
        /all recipients are suppressed: bounce@example\.jp \(bounce\)/,
      );
      assert.ok(await page.isVisible('text=Never handed to the provider.'));
      assert.equal(await page.isVisible('text=Not tried yet.'), false);
      await assertFits(page, width, 'the message');
      await Promise.all([
        page.waitForURL(/\/console\/suppressions\?email=bounce%40example\.jp$/),
        page.click('a:text-is("on the suppression list")'),
      ]);
      assert.equal(
        (await page.textContent('table.list tbody tr td:first-child'))?.trim(),
        'bounce@example.jp',
      );
      assert.equal(await page.locator('#not-suppressed').count(), 0);
      // An address that is not on the list: the page says so, not an empty table alone.
      await page.fill('input[name=email]', 'tanaka@example.jp');
      await Promise.all([page.waitForURL(/email=tanaka/), page.click('text=Find')]);
      assert.match(
        (await page.textContent('#not-suppressed')) ?? '',
        /tanaka@example\.jp is not on the suppression list/,
      );
      await assertFits(page, width, 'the suppression list');
    }
    assert.deepEqual(errors, [], 'no page asked for something that is not there');
  });

  test('Back from a wrong count, or from the recovery started, shows the dry run again', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    const ids = await deadLetters(setup, 'broken', [{}, {}]);

    await page.goto(
      `${tegami.url}/console/unsent?q=${encodeURIComponent('reason:failed category:broken')}`,
    );
    await Promise.all([
      page.waitForURL(/\/console\/recoveries\/dry-run\?/),
      page.click('text=Dry run…'),
    ]);
    const dryRun = page.url();
    assert.equal((await page.textContent('[data-matched]'))?.trim(), '2');
    await page.fill('input[name=confirm]', '5');
    await Promise.all([page.waitForURL(/typed=5/), page.click('text=Start the retry')]);
    assert.ok(await page.isVisible('text=The number typed (5) does not match'));
    assert.equal(await page.inputValue('input[name=confirm]'), '');

    const back = await page.goBack();
    assert.equal(back?.status(), 200);
    assert.equal(page.url(), dryRun);
    assert.equal((await page.textContent('[data-matched]'))?.trim(), '2');
    assert.equal(await page.isVisible('text=does not match'), false);

    await page.fill('input[name=confirm]', '2');
    await Promise.all([
      page.waitForURL(/\/console\/recoveries\/rec_/),
      page.click('text=Start the retry'),
    ]);
    await page.waitForSelector('#progress .s-done', { timeout: 30_000 });
    // Back from the recovery: the dry run, counted again (the mail is requeued or sent now).
    const again = await page.goBack();
    assert.equal(again?.status(), 200);
    assert.equal(page.url(), dryRun);
    assert.ok(await page.isVisible('[data-matched]'));
    for (const id of ids) await untilStatus(tegami, id, 'sent');
  });

  test('the audit log keeps a date it did not understand, and says which form it takes', async () => {
    await page.goto(`${tegami.url}/console/audit`);
    await page.fill('input[name=actor]', 'usr_x');
    await page.fill('input[name=after]', 'yesterday');
    await Promise.all([
      page.waitForURL(/after=yesterday/),
      page.click('button:has-text("Filter")'),
    ]);
    assert.match(
      (await page.textContent('#audit-time-error')) ?? '',
      /a date or time in UTC, like 2026-12-01/,
    );
    assert.equal(await page.inputValue('input[name=after]'), 'yesterday');
    assert.equal(await page.inputValue('input[name=actor]'), 'usr_x');
    assert.equal(await page.getAttribute('input[name=after]', 'aria-invalid'), 'true');
    assert.ok(await page.isVisible('label:has-text("After (UTC)")'));
  });
});

async function assertFits(page: Page, width: number, what: string): Promise<void> {
  const scroll = Number(await page.evaluate('document.documentElement.scrollWidth'));
  assert.ok(scroll <= width, `${what} is ${scroll} px wide at ${width} px`);
}
