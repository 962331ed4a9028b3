import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { UNSENT_REASONS } from '../src/domain/operations/unsent.ts';
import {
  createUnitWithKey,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  type TestService,
} from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, PAGE_PROBLEMS, signInAs } from './support/browser.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
/** Typed in refused forms: never to be shown back. */
const PASSWORD = 'typed-password-never-shown';
const SLACK_TOKEN = 'slack-token-never-shown';

/** The text a person reads in an element, its whitespace as one space. */
async function textOf(page: Page, selector: string): Promise<string> {
  return ((await page.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();
}

/** The values of a select's chosen options. */
function chosen(page: Page, selector: string): Promise<string[]> {
  return page
    .locator(`${selector} option`)
    .evaluateAll((options) =>
      options
        .filter((o) => (o as unknown as { selected: boolean }).selected)
        .map((o) => (o as unknown as { value: string }).value),
    );
}

/**
 * A form the server refuses (a status webhook URL that is not an allowed destination, a unit
 * name taken, a delay too long, a filter mistyped, ...) in Chromium: the same page comes back,
 * 4xx, with what is wrong said in the console's words next to the form (read out: role="alert",
 * the field marked invalid and described by it), and every field as typed, but a password or a
 * Slack webhook URL, which the page says to type again and never holds. Nothing is created.
 * The service refuses private destinations, as it does by default.
 */
describe(`refused console forms keep what was typed (${TEST_ENGINE})`, {
  skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
}, () => {
  let tegami: TestService;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let admin: ConsoleClient;
  let hotel: string;
  let restaurant: string;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    hotel = (await createUnitWithKey(tegami, 'hotel')).id;
    restaurant = (await createUnitWithKey(tegami, 'restaurant')).id;
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
  });
  after(async () => {
    await browser?.close();
    await tegami?.stop();
  });

  /** Clicks the form's submit button; the status of the page that answers (after redirects). */
  async function submit(form: string): Promise<number> {
    const [response] = await Promise.all([
      page.waitForResponse(
        (r) =>
          r.request().isNavigationRequest() &&
          r.frame() === page.mainFrame() &&
          (r.status() < 300 || r.status() >= 400),
      ),
      page.click(`${form} button[type=submit]`),
    ]);
    await page.waitForLoadState('load');
    return response.status();
  }

  /** The refusal said on the page: read out, its field marked and described by it. */
  async function refusal(id: string, fields: string[]): Promise<string> {
    assert.equal(await page.getAttribute(`#${id}`, 'role'), 'alert', id);
    for (const field of fields) {
      assert.equal(await page.getAttribute(field, 'aria-invalid'), 'true', field);
      assert.equal(await page.getAttribute(field, 'aria-describedby'), id, field);
    }
    assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), [], page.url());
    const said = await textOf(page, `#${id}`);
    // The console's words, not the API's: no field paths, no "see details".
    assert.doesNotMatch(said, /see details|alerts\.|slack_webhook_url|delay_s|dead_letters/);
    return said;
  }

  async function count(table: string): Promise<number> {
    const rows = await queryDatabase<{ n: number | string }>(
      tegami.databaseUrl,
      `select count(*) as n from ${table}`,
    );
    return Number(rows[0]?.n);
  }

  test('status webhooks: a destination refused keeps the URL, the events and the unit', async () => {
    await page.goto(`${tegami.url}/console/webhooks`);
    const form = 'form[action="/console/webhooks"]';
    await page.fill(`${form} input[name=url]`, 'http://127.0.0.1:46099/hook');
    await page.selectOption(`${form} select[name=events]`, ['message.sent', 'message.failed']);
    await page.selectOption(`${form} select[name=unit]`, hotel);
    assert.equal(await submit(form), 400);
    assert.equal(new URL(page.url()).pathname, '/console/webhooks');
    assert.equal(await textOf(page, 'h1'), 'Status webhooks');
    assert.equal(
      await refusal('endpoint-error', [`${form} input[name=url]`]),
      '“URL” is not an allowed destination: its host must resolve to public addresses only (others need TEGAMI_WEBHOOKS_ALLOW_PRIVATE=true). No endpoint was added.',
    );
    assert.equal(await page.inputValue(`${form} input[name=url]`), 'http://127.0.0.1:46099/hook');
    assert.deepEqual(await chosen(page, `${form} select[name=events]`), [
      'message.sent',
      'message.failed',
    ]);
    assert.equal(await page.inputValue(`${form} select[name=unit]`), hotel);
    // A user name and password in the URL are a credential: taken out, never shown back.
    await page.fill(`${form} input[name=url]`, `https://hooks:${PASSWORD}@app.example.jp/hooks`);
    assert.equal(await submit(form), 400);
    assert.match(
      await refusal('endpoint-error', [`${form} input[name=url]`]),
      /^“URL” must hold no user name or password \(they were taken out of it\)/,
    );
    assert.equal(await page.inputValue(`${form} input[name=url]`), 'https://app.example.jp/hooks');
    assert.ok(!(await page.content()).includes(PASSWORD), 'the password is not in the page');
    assert.deepEqual(await chosen(page, `${form} select[name=events]`), [
      'message.sent',
      'message.failed',
    ]);
    assert.equal(await count('webhook_endpoints'), 0, 'no endpoint was added');
  });

  test('units: a name taken keeps the name, and says so', async () => {
    await page.goto(`${tegami.url}/console/units`);
    const form = 'form[action="/console/units"]';
    const units = await count('units');
    await page.fill(`${form} input[name=name]`, 'hotel');
    assert.equal(await submit(form), 409);
    assert.equal(new URL(page.url()).pathname, '/console/units');
    assert.equal(
      await refusal('unit-error', [`${form} input[name=name]`]),
      'A unit named “hotel” already exists: choose another name. No unit was created.',
    );
    assert.equal(await page.inputValue(`${form} input[name=name]`), 'hotel');
    assert.equal(await count('units'), units, 'no unit was created');
    // The page's CSRF token still works: the form, fixed, is taken.
    await page.fill(`${form} input[name=name]`, 'spa');
    assert.equal(await submit(form), 200);
    assert.equal(new URL(page.url()).pathname, '/console/units');
    assert.equal(await page.locator(`${form} [role=alert]`).count(), 0);
    assert.equal(await count('units'), units + 1);
    // Said where the form was, read out (a status), its name linking to the new unit's row.
    const notice = page.getByRole('status').filter({ hasText: 'Created unit' });
    assert.equal(await notice.count(), 1);
    assert.equal(
      ((await notice.textContent()) ?? '').replace(/\s+/g, ' ').trim(),
      'Created unit spa.',
    );
    const box = await notice.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 900, 'seen without scrolling');
    await notice.getByRole('link', { name: 'spa' }).click();
    assert.ok(await page.locator(':target td', { hasText: /^spa$/ }).isVisible(), 'its row');
    assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), [], page.url());
  });

  test("a unit's alerts: a delay too long is said in the form's words, in its row, the Slack URL not kept", async () => {
    await page.goto(`${tegami.url}/console/units`);
    const form = `form[action="/console/units/${hotel}/alerts#unit-${hotel}"]`;
    await page.fill(
      `${form} input[name=slack_webhook_url]`,
      `https://hooks.slack.com/services/T0/B0/${SLACK_TOKEN}`,
    );
    await page.fill(`${form} input[name=delay_s]`, '99999999');
    await page.fill(`${form} input[name=dead_letters]`, '7');
    await page.check(`${form} input[name=muted]`);
    assert.equal(await submit(form), 400);
    // The page opens at the unit's row.
    assert.equal(new URL(page.url()).hash, `#unit-${hotel}`);
    const errorId = `unit-alerts-error-${hotel}`;
    assert.equal(
      await refusal(errorId, [`${form} input[name=delay_s]`]),
      '“Delay alert after (s)” must be a whole number of seconds from 1 to 2,592,000 (30 days): 99999999 is more. Nothing was saved. “Slack channel” is not shown again: type it again.',
    );
    assert.equal(await page.locator(`#unit-${hotel} #${errorId}`).count(), 1, 'in its row');
    assert.equal(await page.inputValue(`${form} input[name=delay_s]`), '99999999');
    assert.equal(await page.inputValue(`${form} input[name=dead_letters]`), '7');
    assert.equal(await page.isChecked(`${form} input[name=muted]`), true);
    assert.equal(await page.inputValue(`${form} input[name=slack_webhook_url]`), '');
    assert.ok(!(await page.content()).includes(SLACK_TOKEN), 'the Slack URL is not in the page');
    // Another unit's form is as it was.
    const other = `form[action="/console/units/${restaurant}/alerts#unit-${restaurant}"]`;
    assert.equal(await page.inputValue(`${other} input[name=delay_s]`), '');
    assert.equal(await page.isChecked(`${other} input[name=muted]`), false);
    // A whole number too large is said to be too large, not to be no whole number.
    await page.fill(`${form} input[name=delay_s]`, '');
    await page.fill(`${form} input[name=dead_letters]`, '99999999999999999999');
    assert.equal(await submit(form), 400);
    assert.equal(
      await refusal(errorId, [`${form} input[name=dead_letters]`]),
      '“Dead letters over” must be a whole number from 0 to 1,000,000,000: 99999999999999999999 is more. Nothing was saved.',
    );
    assert.equal(await page.inputValue(`${form} input[name=dead_letters]`), '99999999999999999999');
    // What the domain refuses (a Slack URL to a private address) is said in the form's words too.
    await page.fill(`${form} input[name=dead_letters]`, '7');
    await page.fill(
      `${form} input[name=slack_webhook_url]`,
      `http://127.0.0.1:46098/${SLACK_TOKEN}`,
    );
    assert.equal(await submit(form), 400);
    assert.equal(
      await refusal(errorId, [`${form} input[name=slack_webhook_url]`]),
      '“Slack channel” is not an allowed destination: its host must resolve to public addresses only (others need TEGAMI_WEBHOOKS_ALLOW_PRIVATE=true). Nothing was saved. “Slack channel” is not shown again: type it again.',
    );
    assert.equal(await page.inputValue(`${form} input[name=dead_letters]`), '7');
    assert.ok(!(await page.content()).includes(SLACK_TOKEN), 'the Slack URL is not in the page');
    const settings = await tegami.request('GET', `/v1/units/${hotel}`);
    assert.deepEqual(settings.body.alerts, { slack_webhook_url: null, thresholds: {} });
    // Fixed, it is saved, and the page opens at the row again.
    await page.fill(`${form} input[name=slack_webhook_url]`, '');
    assert.equal(await submit(form), 200);
    assert.equal(new URL(page.url()).hash, `#unit-${hotel}`);
    const saved = await tegami.request('GET', `/v1/units/${hotel}`);
    assert.deepEqual(saved.body.alerts.thresholds, { dead_letters: 7, muted: true });
  });

  test('API keys: a name of spaces keeps the name, the unit, admin and the priority', async () => {
    await page.goto(`${tegami.url}/console/keys`);
    const form = 'form[action="/console/keys"]';
    const keys = await count('api_keys');
    await page.fill(`${form} input[name=name]`, '   ');
    await page.selectOption(`${form} select[name=unit]`, restaurant);
    await page.check(`${form} input[name=admin]`);
    await page.selectOption(`${form} select[name=priority]`, 'bulk');
    assert.equal(await submit(form), 400);
    assert.equal(
      await refusal('key-error', [`${form} input[name=name]`]),
      '“Name” must be 1 to 200 characters. No key was created.',
    );
    assert.equal(await page.inputValue(`${form} input[name=name]`), '   ');
    assert.equal(await page.inputValue(`${form} select[name=unit]`), restaurant);
    assert.equal(await page.isChecked(`${form} input[name=admin]`), true);
    assert.equal(await page.inputValue(`${form} select[name=priority]`), 'bulk');
    assert.equal(await count('api_keys'), keys, 'no key was created');
  });

  test('users: an address taken keeps the form but the password, which is to be typed again', async () => {
    await page.goto(`${tegami.url}/console/users`);
    const form = 'form[action="/console/users"]';
    const users = await count('console_users');
    await page.fill(`${form} input[name=email]`, 'Admin@Example.jp');
    await page.fill(`${form} input[name=password]`, PASSWORD);
    await page.selectOption(`${form} select[name=role]`, 'operator');
    await page.selectOption(`${form} select[name=units]`, [hotel, restaurant]);
    await page.uncheck(`${form} input[name=bodies]`);
    assert.equal(await submit(form), 409);
    assert.equal(
      await refusal('user-error', [`${form} input[name=email]`]),
      'A user with the address admin@example.jp already exists. No user was created. “Password” is not shown again: type it again.',
    );
    assert.equal(await page.inputValue(`${form} input[name=email]`), 'Admin@Example.jp');
    assert.equal(await page.inputValue(`${form} input[name=password]`), '');
    assert.ok(!(await page.content()).includes(PASSWORD), 'the password is not in the page');
    assert.equal(await page.inputValue(`${form} select[name=role]`), 'operator');
    assert.deepEqual(await chosen(page, `${form} select[name=units]`), [hotel, restaurant]);
    assert.equal(await page.isChecked(`${form} input[name=bodies]`), false);
    assert.equal(await count('console_users'), users, 'no user was created');
    // Fixed, with the password typed again, it is taken: said above the form, read out (a
    // status), the address linking to the new user's row.
    await page.fill(`${form} input[name=email]`, 'Night-Desk@Example.jp');
    await page.fill(`${form} input[name=password]`, PASSWORD);
    assert.equal(await submit(form), 200);
    assert.equal(new URL(page.url()).pathname, '/console/users');
    assert.equal(await page.locator(`${form} [role=alert]`).count(), 0);
    assert.equal(await count('console_users'), users + 1);
    const notice = page.getByRole('status').filter({ hasText: 'Created user' });
    assert.equal(await notice.count(), 1);
    assert.equal(
      ((await notice.textContent()) ?? '').replace(/\s+/g, ' ').trim(),
      'Created user night-desk@example.jp.',
    );
    const box = await notice.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 900, 'seen without scrolling');
    assert.ok(!(await page.content()).includes(PASSWORD), 'the password is not in the page');
    await notice.getByRole('link', { name: 'night-desk@example.jp' }).click();
    assert.ok(
      await page.locator(':target td', { hasText: /^night-desk@example\.jp$/ }).isVisible(),
      'its row',
    );
    assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), [], page.url());
  });

  test('users: what the browser lets through and the server refuses is said problem by problem', async () => {
    // A form posted as a browser without the page's own checks would: two problems, each its
    // own line, named by the form's labels.
    const r = await admin.post('/console/users', {
      email: 'no address',
      password: 'short',
      role: 'viewer',
      units: '*',
    });
    assert.equal(r.status, 400, r.text.slice(0, 300));
    const notice =
      /<div class="error form-error" role="alert" id="user-error">([\s\S]*?)<\/div>/.exec(
        r.text,
      )?.[1];
    assert.ok(notice, 'the problems are said in the form');
    assert.deepEqual(
      [...notice.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]),
      ['“E-mail” must be an e-mail address.', '“Password” must be 12 to 1,024 characters.'],
    );
    assert.match(r.text, /name="email" required value="no address" aria-invalid="true"/);
    assert.match(r.text, /name="password" [^>]*aria-invalid="true"/);
    assert.ok(!r.text.includes('value="short"'), 'the password is not shown back');
  });

  test('unsent: a filter mistyped is said under the box, which keeps it', async () => {
    await page.goto(`${tegami.url}/console/unsent`);
    await page.fill('input[name=q]', 'reason:nope error:');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/console/unsent?q=')),
      page.press('input[name=q]', 'Enter'),
    ]);
    await page.waitForLoadState('load');
    assert.equal(response.status(), 400);
    assert.equal(await textOf(page, 'h1'), 'Unsent mail');
    assert.equal(await page.inputValue('input[name=q]'), 'reason:nope error:');
    assert.equal(await page.getAttribute('input[name=q]', 'aria-describedby'), 'filter-error');
    assert.equal(await page.getAttribute('#filter-error', 'role'), 'alert');
    assert.deepEqual(await page.locator('#filter-error li').allTextContents(), [
      `reason: one of ${UNSENT_REASONS.join(', ')}`,
      'error: needs a value',
    ]);
    assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), []);
    // Fixed in the same box, the filter is taken.
    await page.fill('input[name=q]', 'reason:failed');
    await Promise.all([
      page.waitForURL(/q=reason%3Afailed$/),
      page.press('input[name=q]', 'Enter'),
    ]);
    assert.equal(await page.locator('#filter-error').count(), 0);
    assert.equal(await textOf(page, '#no-unsent'), 'No unsent message matches this filter.');
  });

  test('search: a search not understood is said under the box, which keeps it, and lists nothing', async () => {
    await page.goto(`${tegami.url}/console/messages`);
    await page.fill('input[name=q]', 'status:lost error:');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/console/messages?q=')),
      page.press('input[name=q]', 'Enter'),
    ]);
    await page.waitForLoadState('load');
    assert.equal(response.status(), 400);
    assert.equal(await textOf(page, 'h1'), 'Search');
    assert.equal(await page.inputValue('input[name=q]'), 'status:lost error:');
    assert.equal(await page.getAttribute('input[name=q]', 'aria-invalid'), 'true');
    assert.equal(await page.getAttribute('input[name=q]', 'aria-describedby'), 'search-error');
    assert.equal(await page.getAttribute('#search-error', 'role'), 'alert');
    assert.deepEqual(await page.locator('#search-error li').allTextContents(), [
      'status: one of queued, scheduled, sending, sent, failed, cancelled',
      'error: needs a value',
    ]);
    // What to do about it, and the keys it points to are open.
    assert.match(
      await textOf(page, '#search-error'),
      /Nothing is listed until the search is understood/,
    );
    assert.equal(await page.locator('details.help[open]').count(), 1);
    // Nothing listed, nor said not to match, nor offered for export.
    assert.equal(await page.locator('table.messages').count(), 0);
    assert.equal(await page.locator('[role=status]').count(), 0);
    assert.equal(await page.locator('a[href^="/console/messages.csv"]').count(), 0);
    assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), []);
    // One problem is one sentence; a quoted empty value is no value either.
    await page.fill('input[name=q]', 'unit:""');
    await Promise.all([page.waitForURL(/q=unit%3A%22%22$/), page.press('input[name=q]', 'Enter')]);
    assert.equal(
      await page.locator('#search-error p').first().textContent(),
      'unit: needs a value',
    );
    // Fixed in the same box, the search is taken.
    await page.fill('input[name=q]', 'status:failed');
    const [fixed] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/console/messages?q=status%3Afailed')),
      page.press('input[name=q]', 'Enter'),
    ]);
    await page.waitForLoadState('load');
    assert.equal(fixed.status(), 200);
    assert.equal(await page.locator('#search-error').count(), 0);
    assert.equal(await page.getAttribute('input[name=q]', 'aria-invalid'), null);
    assert.equal(await textOf(page, '[role=status]'), 'No message matches.');
  });
});
