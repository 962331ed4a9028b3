import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  createUnitWithKey,
  message,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, signInAs } from './support/browser.ts';
import { type ConsoleClient, postForm, signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const GUESSED = { email: 'guessed@example.jp', password: 'guessed-password-123' };

/**
 * A status webhook receiver: down (500) at first, then hanging (the post stays in flight, so the
 * log shows the status webhook as queued again with no post since), then answering 200.
 */
async function receiver() {
  let mode: 'down' | 'hang' | 'up' = 'down';
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'down') res.writeHead(500).end('receiver down');
      else if (mode === 'hang') held.push(res);
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    held,
    set(next: typeof mode) {
      mode = next;
      if (next === 'up') for (const res of held.splice(0)) res.writeHead(200).end('ok');
    },
    async close() {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The page's text, its whitespace as one space. */
async function textOf(page: Page, selector: string): Promise<string> {
  return ((await page.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * What a support agent and an operator read, page by page, in their words rather than the
 * code's: when a sign-in lock ends (not an ISO time), what came of each attempt (not
 * `retryable`, which stays beside the words), a status webhook posted again by hand (not
 * "pending, 0 posts" next to an old error), who did what in the audit log (not "bootstrap
 * (TEGAMI_BOOTSTRAP_API_KEY) (key)"), and a status webhook endpoint deleted only once asked.
 */
describe(`the console in plain words (${TEST_ENGINE})`, {
  skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
}, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let hook: Awaited<ReturnType<typeof receiver>>;

  before(async () => {
    hook = await receiver();
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_RETRY_BASE_DELAY_MS: '50',
      TEGAMI_RETRY_MAX_DELAY_MS: '100',
      TEGAMI_RETRY_MAX_ATTEMPTS: '2',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
      TEGAMI_WEBHOOKS_RETRY_WINDOW_S: '1',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
      TEGAMI_WEBHOOKS_TIMEOUT_MS: '60000',
    });
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });
  after(async () => {
    await browser?.close();
    await hook?.close();
    await tegami?.stop();
  });

  test('a locked sign-in says how long the lock holds and when it ends, in the reader’s time zone', async () => {
    const created = await runTegami(
      ['users', 'create', '--email', GUESSED.email, '--role', 'viewer'],
      { TEGAMI_DATABASE_URL: tegami.databaseUrl },
      { input: `${GUESSED.password}\n` },
    );
    assert.equal(created.code, 0, created.output);
    await page.goto(`${tegami.url}/console/sign-in`);
    for (let i = 0; i < 5; i++) {
      await page.fill('input[name=email]', GUESSED.email);
      await page.fill('input[name=password]', 'wrong-password-xx');
      await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
    }
    const said = await textOf(page, 'p.error');
    assert.match(
      said,
      /^Too many failed sign-ins from your address: this account is locked for sign-ins from here\. Try again in 15 minutes \(at \d\d:\d\d JST\)\.$/,
    );
    assert.doesNotMatch(said, /\d{4}-\d\d-\d\dT/, 'no ISO time');
    // The time said is when the lock ends, to the minute after it (never too early to try).
    const ends = Date.parse((await page.getAttribute('p.error time', 'datetime')) ?? '');
    const left = ends - Date.now();
    assert.ok(left > 14 * 60_000 && left <= 16 * 60_000, `${left} ms left`);
    assert.equal(ends % 60_000, 0);

    // Without JavaScript (the page as served): the time in UTC.
    const r = await postForm(`${tegami.url}/console/sign-in`, {
      email: GUESSED.email,
      password: GUESSED.password,
    });
    assert.equal(r.status, 429);
    const served = (await r.text()).replace(/<[^>]+>/g, '');
    assert.match(served, /Try again in (14|15) minutes? \(at \d\d:\d\d UTC\)\./);
  });

  test("a message's attempts say what came of each, with the API's word beside it", async () => {
    const submit = async (to: string) => {
      const sent = await tegami.request(
        'POST',
        '/v1/messages',
        message({ to: [{ email: to }], subject: to }),
      );
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      return sent.body.id as string;
    };
    const [once, always, refused, waiting] = await Promise.all([
      submit('retryable-1@example.jp'),
      submit('retryable@example.jp'),
      submit('permanent@example.jp'),
      submit('retry-after-600000@example.jp'),
    ]);
    const until = (id: string, done: (m: { status: string; attempts: unknown[] }) => boolean) =>
      waitFor(async () => {
        const m = (await tegami.request('GET', `/v1/messages/${id}`)).body;
        return done(m) ? m : null;
      }, `${id} settled`);
    await until(once, (m) => m.status === 'sent');
    await until(always, (m) => m.status === 'failed');
    await until(refused, (m) => m.status === 'failed');
    await until(waiting, (m) => m.attempts.length === 1);

    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    const attempts = async (id: string) => {
      await page.goto(`${tegami.url}/console/messages/${id}`);
      const items = page.locator('ol.timeline li', { hasText: 'Attempt' });
      const lines: string[] = [];
      for (let i = 0; i < (await items.count()); i++) {
        const line = ((await items.nth(i).textContent()) ?? '').replace(/\s+/g, ' ');
        lines.push(/ to test: (.*?\))[ ,]/.exec(line)?.[1] ?? line);
      }
      return lines;
    };
    assert.deepEqual(await attempts(once), [
      'failed, tried again (retryable, HTTP 503)',
      'taken by the provider (accepted, HTTP 202)',
    ]);
    assert.deepEqual(await attempts(always), [
      'failed, tried again (retryable, HTTP 503)',
      'failed, no more retries (retryable, HTTP 503)',
    ]);
    assert.deepEqual(await attempts(waiting), ['failed, will retry (retryable, HTTP 429)']);
    assert.deepEqual(await attempts(refused), ['failed for good (permanent, HTTP 400)']);
    // An operator retries it: the first refusal was not retried by Tegami, but by hand.
    await Promise.all([
      page.waitForURL(/\/console\/messages\//),
      page.click('button:text-is("Retry")'),
    ]);
    await until(refused, (m) => m.status === 'failed' && m.attempts.length === 2);
    assert.deepEqual(await attempts(refused), [
      'failed for good, then retried by hand (permanent, HTTP 400)',
      'failed for good (permanent, HTTP 400)',
    ]);
  });

  test('a status webhook posted again says it was queued again, and keeps the error it had', async () => {
    const created = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: hook.url,
      events: ['message.sent'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const endpoint = created.body.id as string;
    const sent = await tegami.request('POST', '/v1/messages', message({ subject: 'B-77' }));
    const id = sent.body.id as string;
    await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/webhook-endpoints/${endpoint}/deliveries`);
      return r.body.data[0]?.status === 'failed';
    }, 'failed after the 1 s window');

    hook.set('hang');
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    /** The newest row of the endpoint's card; a time not shown in a cell is NaN. */
    const cells = async () => {
      await page.goto(`${tegami.url}/console/webhooks`);
      const row = page.locator(`#endpoint-${endpoint} tbody tr`).first();
      const timeIn = async (cell: number) =>
        (await row.locator('td').nth(cell).locator('time').count()) === 0
          ? Number.NaN
          : Date.parse(
              (await row.locator('td').nth(cell).locator('time').getAttribute('datetime')) ?? '',
            );
      return {
        state: ((await row.locator('td').nth(3).textContent()) ?? '').replace(/\s+/g, ' '),
        posts: (await row.locator('td').nth(4).textContent()) ?? '',
        answer: (await row.locator('td').nth(5).textContent()) ?? '',
        requeued: await timeIn(3),
        erred: await timeIn(5),
      };
    };
    // Given up: its last error says when it was.
    const failed = await cells();
    assert.match(
      failed.answer,
      /^last error at \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d JST: HTTP 500: receiver down$/,
    );
    const sentAt = Date.parse((await tegami.request('GET', `/v1/messages/${id}`)).body.created_at);
    assert.ok(failed.erred >= sentAt && failed.erred <= Date.now(), 'the time of the refusal');

    const card = page.locator(`#endpoint-${endpoint}`);
    const before = Date.now();
    await Promise.all([
      page.waitForURL(/redelivered=/),
      card.locator('text=Post failed status webhooks again').click(),
    ]);
    assert.equal(
      await textOf(page, '#redelivered'),
      '1 failed status webhook queued to be posted again.',
    );
    await waitFor(async () => hook.held.length === 1, 'the post after it, in flight');
    const queued = await cells();
    assert.match(queued.state, /^pending: queued again \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d JST$/);
    assert.ok(queued.requeued >= before - 1000 && queued.requeued <= Date.now(), 'its time');
    assert.equal(queued.posts, '0 since then');
    // The error from before, at its own time, before the re-queue's.
    assert.match(
      queued.answer,
      /^last error at \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d JST, before it was queued again: HTTP 500: receiver down$/,
    );
    assert.equal(queued.erred, failed.erred);
    assert.ok(queued.erred <= queued.requeued, 'the error came before the re-queue');
    // Asked whether to delete the endpoint now, the page says what would not be posted.
    const asked = (await admin.get(`/console/webhooks/${endpoint}/delete`)).text;
    assert.match(
      asked.replace(/<[^>]+>/g, ''),
      /1 status webhook still waiting to be posted to it is never posted: it is marked failed \(“endpoint deleted”\)\./,
    );
    // The message's timeline says the same.
    await page.goto(`${tegami.url}/console/messages/${id}`);
    const line = await textOf(page, 'ol.timeline li:has-text("Status webhook")');
    assert.match(
      line,
      /message\.sent to \S+: pending: queued again [^,]+ JST, 0 posts since then · last error at [^,]+ JST, before it was queued again: HTTP 500: receiver down · in the endpoint's log$/,
    );

    // The receiver answers: the new answer replaces the old error.
    hook.set('up');
    await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/webhook-endpoints/${endpoint}/deliveries`);
      return r.body.data[0]?.status === 'delivered';
    }, 'delivered after the redelivery');
    const delivered = await cells();
    assert.match(delivered.state, /^delivered after being queued again \d{4}\/.* JST$/);
    assert.equal(delivered.posts, '1 since then');
    assert.equal(delivered.answer, 'HTTP 200');
  });

  test('the audit log names who did what the same way for people, keys and the command line', async () => {
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    const who = async (action: string) => {
      await page.goto(`${tegami.url}/console/audit?action=${action}`);
      const cells = page.locator('table.list tbody tr td:nth-child(2)');
      const names: string[] = [];
      for (let i = 0; i < (await cells.count()); i++) {
        names.push(((await cells.nth(i).textContent()) ?? '').replace(/\s+/g, ' ').trim());
      }
      return names;
    };
    const endpoint = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/audit-hooks',
      events: ['message.sent'],
    });
    assert.equal(endpoint.status, 201);
    assert.deepEqual(
      [...new Set(await who('webhook_endpoint.create'))],
      ['bootstrap · API key from TEGAMI_BOOTSTRAP_API_KEY'],
    );
    const users = await who('user.create');
    assert.equal(users.length, 2, users.join('\n'));
    // Newest first: the user made with `tegami users create`, then the first admin.
    assert.match(users[0] as string, /^\S+ · command line$/);
    assert.equal(users[1], 'first start · from TEGAMI_ADMIN_EMAIL');
    const unit = await admin.post('/console/units', { name: 'spa' });
    assert.equal(unit.status, 303);
    assert.deepEqual(await who('unit.create'), [`${ADMIN.email} · console user`]);
    // A key of a unit, by its name.
    const spa = await createUnitWithKey(tegami, 'front');
    const added = await tegami.request(
      'POST',
      '/v1/suppressions',
      { email: 'left@example.jp' },
      { authorization: `Bearer ${spa.key}` },
    );
    assert.ok(added.status === 201 || added.status === 200, JSON.stringify(added.body));
    assert.deepEqual(await who('suppression.add'), ['front app · API key']);
    await page.goto(`${tegami.url}/console/audit`);
    const text = await textOf(page, 'table.list');
    assert.doesNotMatch(text, /\((key|console|cli)\)/, 'no type in brackets');
    assert.doesNotMatch(text, /\(TEGAMI_BOOTSTRAP_API_KEY\)/);
    const title = await page.getAttribute('table.list tbody tr .actor', 'title');
    assert.match(title ?? '', /^(key|console|cli) \S+$/);
  });

  test('deleting an endpoint asks first, on a page of its own, and works without JavaScript', async () => {
    const created = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/old-app',
      events: ['message.sent'],
    });
    const id = created.body.id as string;
    const active = async () =>
      (await tegami.request('GET', '/v1/webhook-endpoints')).body.data.some(
        (e: { id: string }) => e.id === id,
      );

    // As served: the endpoints' page has no form that deletes, only a link to the question.
    const listed = await admin.get('/console/webhooks');
    assert.doesNotMatch(
      listed.text,
      new RegExp(`<form[^>]*action="/console/webhooks/${id}/delete"`),
    );
    assert.match(
      listed.text,
      new RegExp(
        `<a class="button danger" href="/console/webhooks/${id}/delete">Delete endpoint…</a>`,
      ),
    );
    const asked = await admin.get(`/console/webhooks/${id}/delete`);
    assert.equal(asked.status, 200);
    assert.match(
      asked.text,
      new RegExp(
        `<form method="post" action="/console/webhooks/${id}/delete" class="inline"><input type="hidden" name="_csrf" value="${admin.csrf}">`,
      ),
    );
    assert.ok(await active(), 'asking deletes nothing');
    const viewer = await runTegami(
      ['users', 'create', '--email', 'reader@example.jp', '--role', 'viewer'],
      { TEGAMI_DATABASE_URL: tegami.databaseUrl },
      { input: 'reader-password-123\n' },
    );
    assert.equal(viewer.code, 0, viewer.output);
    const reader = await signIn(tegami.url, 'reader@example.jp', 'reader-password-123');
    assert.equal((await reader.get(`/console/webhooks/${id}/delete`)).status, 403);

    // In Chromium: the click asks; "Keep it" keeps it; the confirmation deletes it.
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    await page.goto(`${tegami.url}/console/webhooks`);
    await Promise.all([
      page.waitForURL(`${tegami.url}/console/webhooks/${id}/delete`),
      page.click(`#endpoint-${id} >> text=Delete endpoint…`),
    ]);
    const question = await textOf(page, '#confirm-delete');
    assert.match(
      question,
      /^Delete the endpoint http:\/\/127\.0\.0\.1:9\/old-app \(every unit, events message\.sent\)\?/,
    );
    assert.match(question, /No status webhook to it is waiting to be posted\./);
    await Promise.all([
      page.waitForURL(/\/console\/webhooks#endpoint-/),
      page.click('text=Keep it'),
    ]);
    assert.ok(await active(), 'kept');
    await page.goto(`${tegami.url}/console/webhooks/${id}/delete`);
    await Promise.all([
      page.waitForURL(`${tegami.url}/console/webhooks`),
      page.click('#confirm-delete button:text-is("Delete endpoint")'),
    ]);
    assert.equal(await active(), false, 'deleted once confirmed');
    assert.equal(await page.locator(`#endpoint-${id}`).count(), 0, 'no longer listed');
    // Asked again (Back, or someone else was first): its log, which says it was deleted.
    await page.goto(`${tegami.url}/console/webhooks/${id}/delete`);
    assert.equal(page.url(), `${tegami.url}/console/webhooks/${id}/deliveries`);
    assert.ok(await page.isVisible('#endpoint-deleted'));
  });
});
