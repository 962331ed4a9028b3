import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { newId } from '../src/domain/ids.ts';
import type { RunningSimulator } from '../src/simulator/index.ts';
import { message, queryDatabase, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, PAGE_PROBLEMS, signInAs } from './support/browser.ts';
import { simulatorAcceptedIds } from './support/cluster.ts';
import {
  type ConsoleClient,
  deadLetters,
  signIn,
  submitMessage,
  untilDeliveryStatus,
  untilStatus,
} from './support/console.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const SUPPORT = { email: 'support@example.jp', password: 'support-password-123' };
const SG_KEY = 'SG.usability';

/**
 * The console as the people who use it meet it, in Chromium. A support agent with a guest on the
 * phone reads what happened to the guest's mail in plain words (delivered, bounced, dropped, never
 * sent), and a guest's name typed as is leads to the search of recipients in one click. On call,
 * a button clicked twice on a slow link shows the retry or the recovery that the first click
 * started, not an error. A long unbroken subject does not widen a desktop page; the keyboard
 * gets past the menu with a skip link; every page's controls are labelled, its tables headed and
 * its headings in order; and the end of a list says so.
 */
describe(`the console for support, on call and by keyboard (${TEST_ENGINE})`, {
  skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
}, () => {
  let setup: SignedEventsSetup;
  let simulator: RunningSimulator;
  let tegami: TestService;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let admin: ConsoleClient;

  async function whatHappened(id: string): Promise<string> {
    await page.goto(`${tegami.url}/console/messages/${id}`);
    return ((await page.textContent('#what-happened')) ?? '').replace(/\s+/g, ' ');
  }

  before(async () => {
    setup = await startWithSignedEvents({
      apiKey: SG_KEY,
      env: { TEGAMI_ADMIN_EMAIL: ADMIN.email, TEGAMI_ADMIN_PASSWORD: ADMIN.password },
    });
    ({ simulator, tegami } = setup);
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const created = await admin.post('/console/users', {
      email: SUPPORT.email,
      password: SUPPORT.password,
      role: 'viewer',
      units: '*',
      bodies: '1',
    });
    assert.equal(created.status, 303, created.text);
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });
  after(async () => {
    await browser?.close();
    await setup?.stop();
  });

  test("a guest's confirmation: its page says in plain words what happened and what to do", async () => {
    const delivered = await submitMessage(tegami, {
      to: [{ email: 'hanako@example.jp', name: 'Hanako Yamada' }],
      subject: 'Your booking B-1001',
    });
    const bounced = await submitMessage(tegami, {
      to: [{ email: 'bounce@example.jp' }],
      subject: 'B-1002',
    });
    const dropped = await submitMessage(tegami, {
      to: [{ email: 'drop@example.jp' }],
      subject: 'B-1003',
    });
    await untilDeliveryStatus(tegami, delivered, 'delivered');
    await untilDeliveryStatus(tegami, bounced, 'bounced');
    await untilDeliveryStatus(tegami, dropped, 'dropped');
    // The bounce put the address on the suppression list: the next mail is never sent.
    const never = await submitMessage(tegami, {
      to: [{ email: 'bounce@example.jp' }],
      subject: 'B-1004',
    });
    await untilStatus(tegami, never, 'failed');

    await signInAs(page, tegami.url, SUPPORT.email, SUPPORT.password);
    assert.match(
      await whatHappened(delivered),
      /^Delivered to hanako@example\.jp at .+: the guest's mail server accepted it\. If the guest cannot find it, ask them to look in their spam or junk folder\./,
    );
    const bounce = await whatHappened(bounced);
    assert.match(
      bounce,
      /^Not delivered \(bounced\) to bounce@example\.jp: the guest's mail server refused it \(“550 5\.1\.1 The email account that you tried to reach does not exist\.”\)\. The address may be mistyped or no longer exist: check it with the guest\./,
    );
    // The status above still says `sent` (the provider took it): the summary is what to read.
    assert.equal((await page.textContent('.badge.s-sent'))?.trim(), 'sent');
    await Promise.all([
      page.waitForURL(/\/console\/suppressions\?email=bounce%40example\.jp$/),
      page.click('#what-happened a:text-is("the suppression list")'),
    ]);
    assert.equal(
      (await page.textContent('table.list tbody td:first-child'))?.trim(),
      'bounce@example.jp',
    );
    assert.match(
      await whatHappened(dropped),
      /^Not delivered \(dropped\) to drop@example\.jp: SendGrid did not send it \(“Bounced Address”\), as it does for an address that bounced before/,
    );
    assert.match(
      await whatHappened(never),
      /^Not sent: the guest got nothing\. Every recipient's address is on the suppression list .+ Check the address with the guest\./,
    );
    // A viewer sees no button to act with.
    assert.equal(await page.locator('main button').count(), 0);
  });

  test("a guest's name typed as is leads to the search of recipients in one click", async () => {
    await signInAs(page, tegami.url, SUPPORT.email, SUPPORT.password);
    await page.goto(`${tegami.url}/console/messages`);
    await page.fill('input[name=q]', 'Hanako Yamada');
    await Promise.all([page.waitForURL(/q=Hanako/), page.press('input[name=q]', 'Enter')]);
    assert.equal(await page.locator('table.list tbody tr').count(), 0);
    await Promise.all([
      page.waitForURL(/q=to%3A%22Hanako\+Yamada%22$/),
      page.click('#search-recipients'),
    ]);
    const rows = page.locator('table.list tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match((await rows.textContent()) ?? '', /hanako@example\.jp/);
  });

  test('a button clicked twice shows the retry or the recovery the first click started', async () => {
    const ids = await deadLetters(setup, 'twice', [
      { subject: 'twice 1' },
      { subject: 'twice 2' },
      { subject: 'twice 3' },
    ]);
    const [one, ...rest] = ids as [string, ...string[]];

    // Retry, twice: the second finds the message requeued (or sent) and shows it.
    for (let i = 0; i < 2; i++) {
      const r = await admin.post(`/console/messages/${one}/retry`, { q: 'category:twice' });
      assert.equal(r.status, 303, `retry ${i + 1}: ${r.text}`);
      assert.equal(r.location, `/console/messages/${one}?q=category%3Atwice`);
    }
    await untilStatus(tegami, one, 'sent');

    // The recovery's confirmation, twice: one recovery, and the second is shown it.
    const form = { q: 'reason:failed category:twice', action: 'retry', confirm: '2' };
    const first = await admin.post('/console/recoveries', form);
    assert.equal(first.status, 303, first.text);
    assert.match(first.location ?? '', /^\/console\/recoveries\/rec_\w+$/);
    const second = await admin.post('/console/recoveries', form);
    assert.equal(second.status, 303, second.text);
    assert.equal(second.location, first.location, 'the recovery that the first click started');
    const started = await queryDatabase<{ n: number | string }>(
      tegami.databaseUrl,
      "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'recovery.start'",
    );
    assert.equal(Number(started[0]?.n), 1);
    for (const id of rest) await untilStatus(tegami, id, 'sent');
    const accepted = await simulatorAcceptedIds(simulator.url);
    for (const id of ids) assert.equal(accepted.get(id), 1, `${id} was accepted once`);
    // Later, the same count typed again is a wrong count, as before (nothing matches now).
    const stale = await admin.post('/console/recoveries', { ...form, confirm: '5' });
    assert.equal(stale.status, 303);
    assert.match(stale.location ?? '', /\/console\/recoveries\/dry-run\?.*typed=5/);
  });

  test('a recovery confirmed twice at once (the second sent before the first is answered) starts one', async () => {
    const ids = await deadLetters(setup, 'at-once', [
      { subject: 'at once 1' },
      { subject: 'at once 2' },
    ]);
    const startedBefore = await recoveriesStarted();
    const form = { q: 'reason:failed category:at-once', action: 'retry', confirm: '2' };
    const [first, second] = await Promise.all([
      admin.post('/console/recoveries', form),
      admin.post('/console/recoveries', form),
    ]);
    assert.equal(first.status, 303, first.text);
    assert.equal(second.status, 303, second.text);
    assert.match(first.location ?? '', /^\/console\/recoveries\/rec_\w+$/);
    assert.equal(second.location, first.location, 'both show the one recovery');
    assert.equal((await recoveriesStarted()) - startedBefore, 1);
    for (const id of ids) await untilStatus(tegami, id, 'sent');
  });

  test('the count may be typed as people type numbers: full-width digits, spaces around it', async () => {
    const ids = await deadLetters(setup, 'typed-wide', [
      { subject: 'typed wide 1' },
      { subject: 'typed wide 2' },
    ]);
    const form = { q: 'reason:failed category:typed-wide', action: 'retry' };
    // A wrong count typed the same way is still wrong, and said as typed.
    const wrong = await admin.post('/console/recoveries', { ...form, confirm: '３' });
    assert.match(wrong.location ?? '', /\/console\/recoveries\/dry-run\?.*typed=3/);
    // What a Japanese input method gives for 2, with a full-width space after it.
    const started = await admin.post('/console/recoveries', { ...form, confirm: ' ２\u3000' });
    assert.equal(started.status, 303, started.text);
    assert.match(started.location ?? '', /^\/console\/recoveries\/rec_\w+$/);
    for (const id of ids) await untilStatus(tegami, id, 'sent');
  });

  async function recoveriesStarted(): Promise<number> {
    const rows = await queryDatabase<{ n: number | string }>(
      tegami.databaseUrl,
      "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'recovery.start'",
    );
    return Number(rows[0]?.n);
  }

  test('a long unbroken subject and address do not widen a desktop page', async () => {
    const id = await submitMessage(tegami, {
      to: [
        {
          email: `${'a'.repeat(60)}@${'very-long-subdomain.'.repeat(4)}example.jp`,
          name: 'Wolfeschlegelsteinhausenbergerdorff',
        },
      ],
      subject: `予約確認${'x'.repeat(300)}`,
      categories: ['long'],
    });
    await untilStatus(tegami, id, 'sent');
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    await page.setViewportSize({ width: 1280, height: 800 });
    for (const path of [
      '/console/messages?q=category%3Along',
      `/console/messages/${id}`,
      '/console/audit',
    ]) {
      await page.goto(`${tegami.url}${path}`);
      const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
      assert.ok(width <= 1280, `${path} is ${width} px wide`);
    }
    // The last column of the results is on the screen, and a short word is whole.
    await page.goto(`${tegami.url}/console/messages?q=category%3Along`);
    const lastHeader = await page.locator('table.list thead th').last().boundingBox();
    assert.ok(lastHeader && lastHeader.x + lastHeader.width <= 1280, 'Last error is on screen');
    const badge = await page.locator('table.list tbody .badge.s-sent').boundingBox();
    assert.ok(badge && badge.height < 24, 'the status is not cut in two');
  });

  test('the keyboard: a visible skip link first, past the menu to the content', async () => {
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    await page.goto(`${tegami.url}/console/unsent`);
    await page.keyboard.press('Tab');
    const skip = (await page.evaluate(`(() => {
      const el = document.activeElement;
      const box = el.getBoundingClientRect();
      return { text: el.textContent, x: box.x, y: box.y, width: box.width };
    })()`)) as { text: string; x: number; y: number; width: number };
    assert.equal(skip.text, 'Skip to the content');
    assert.ok(skip.x >= 0 && skip.y >= 0 && skip.width > 0, 'shown while focused');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    assert.equal(
      await page.evaluate("document.activeElement?.closest('main')?.id ?? null"),
      'main',
      'the next stop is in the page, not the menu',
    );
  });

  test('every page: labelled controls, named buttons, headed tables, headings in order', async () => {
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    await page.setViewportSize({ width: 1280, height: 800 });
    // An endpoint that wants no status webhook: its log's page, with nothing posted anywhere.
    const endpoint = newId('whk');
    await tegami.service.database.db
      .insertInto('webhook_endpoints')
      .values({
        id: endpoint,
        url: 'https://app.example.jp/tegami-hooks',
        event_types: '[]',
        secret: 'a-secret-of-sixteen-or-more',
        created_at: Date.now(),
        disabled_at: null,
        unit_id: (await tegami.request('GET', '/v1/units')).body.data[0].id,
        all_units: 1,
        previous_secret: null,
        previous_secret_expires_at: null,
      })
      .execute();
    const pages = [
      '/console',
      '/console/messages?q=bounce',
      `/console/messages/${(await tegami.request('GET', '/v1/messages?limit=1')).body.data[0].id}`,
      '/console/unsent',
      '/console/recoveries',
      '/console/recoveries/dry-run?q=reason%3Afailed&action=retry',
      '/console/alerts',
      '/console/suppressions',
      '/console/audit',
      '/console/keys',
      '/console/units',
      '/console/webhooks',
      `/console/webhooks/${endpoint}/deliveries`,
      `/console/webhooks/${endpoint}/delete`,
      '/console/users',
      '/console/account',
    ];
    for (const path of pages) {
      const r = await page.goto(`${tegami.url}${path}`);
      assert.equal(r?.status(), 200, path);
      const problems = await page.evaluate(PAGE_PROBLEMS);
      assert.deepEqual(problems, [], path);
    }
    // A form field's border is seen: 3:1 against the page (WCAG 1.4.11).
    await page.goto(`${tegami.url}/console/messages`);
    const [border, background] = (await page.evaluate(`[
      getComputedStyle(document.querySelector('input[name=q]')).borderTopColor,
      getComputedStyle(document.body).backgroundColor,
    ]`)) as [string, string];
    assert.ok(contrast(border, background) >= 3, `${border} on ${background}`);
  });

  test('the end of a list says so: unsent mail and past alerts', async () => {
    const ids = await deadLetters(
      setup,
      'end',
      Array.from({ length: 50 }, (_, i) => ({ subject: `end ${i}` })),
    );
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    // Exactly a page: no "Older" link to an empty page.
    await page.goto(`${tegami.url}/console/unsent?q=${encodeURIComponent('category:end')}`);
    assert.equal(await page.locator('table.messages tbody tr').count(), 50);
    assert.equal(await page.locator('a:text-is("Older →")').count(), 0);
    // Past the end, and a filter that matches nothing: said, not an empty table alone.
    await page.goto(`${tegami.url}/console/unsent?q=category%3Aend&before=${ids[0]}`);
    assert.equal(
      (await page.textContent('#no-unsent'))?.trim(),
      'No older unsent message matches.',
    );
    await page.goto(`${tegami.url}/console/unsent?q=category%3Anothing`);
    assert.equal(
      (await page.textContent('#no-unsent'))?.trim(),
      'No unsent message matches this filter.',
    );
    await page.goto(`${tegami.url}/console/alerts?before=alt_${'0'.repeat(26)}`);
    assert.ok(await page.isVisible('text=No older alert.'));
    assert.equal(await page.isVisible('text=No alert has fired yet.'), false);
  });
});

/**
 * A send that got no answer (SendGrid hangs, as in an outage): the provider may have taken the
 * mail, so a message's page must not tell support that the guest got nothing, while it waits
 * (held) or once it is cancelled. Plain HTTP, no browser.
 */
describe(`what happened to mail whose send got no answer (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let simulator: RunningSimulator;
  let tegami: TestService;
  before(async () => {
    setup = await startWithSimulator(SG_KEY, {
      TEGAMI_SENDGRID_TIMEOUT_MS: '300',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    ({ simulator, tegami } = setup);
  });
  after(() => setup?.stop());

  test('held after a timeout: "perhaps sent", not "not sent yet"; cancelled: not "the guest got nothing"', async () => {
    simulator.faults.hangRate = 1;
    const sent = await tegami.request('POST', '/v1/messages', message({ subject: 'B-2001' }));
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const id = sent.body.id as string;
    await waitFor(
      async () => {
        const m = (await tegami.request('GET', `/v1/messages/${id}`)).body;
        return (
          m.status === 'queued' &&
          m.attempts.some((a: { outcome: string }) => a.outcome === 'unknown')
        );
      },
      'a timed-out attempt, and the message waiting',
      30_000,
    );
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const summary = async () => {
      const page = await admin.get(`/console/messages/${id}`);
      assert.equal(page.status, 200);
      const found = /<p id="what-happened"[^>]*>([\s\S]*?)<\/p>/.exec(page.text)?.[1] ?? '';
      return found.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ');
    };
    assert.match(
      await summary(),
      /^Perhaps sent: a try got no answer from SendGrid, which may have taken the mail: the guest may have it already\. It is tried again by itself/,
    );
    // Cancelled while it waits (a cancel recovery during the outage): the copy may be out there.
    await waitFor(
      async () => (await tegami.request('POST', `/v1/messages/${id}/cancel`)).status === 200,
      'the cancel, between two tries',
      30_000,
    );
    simulator.faults.hangRate = 0;
    assert.equal(
      await summary(),
      'Cancelled, but before that a try got no answer from SendGrid, which may have taken the mail: the guest may have it.',
    );
  });
});

/** The contrast ratio of two `rgb(…)` colours (WCAG 2). */
function contrast(a: string, b: string): number {
  const luminance = (css: string) => {
    const [r, g, b] = (css.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}
