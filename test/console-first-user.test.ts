import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runTegami, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { postForm, signIn } from './support/console.ts';

/**
 * A console started without TEGAMI_ADMIN_EMAIL (the README's quick start) has no user: its
 * sign-in page says so and how to make the first admin, instead of a form that answers every
 * attempt "Wrong e-mail address or password". Once a user exists the page says nothing of it.
 */
const ADMIN = { email: 'first@example.jp', password: 'first-password-123' };
const NOTICE = /id="no-console-user".*No console user exists yet/s;

describe(`the console before its first user (${TEST_ENGINE})`, () => {
  let tegami: TestService;

  before(async () => {
    tegami = await startTestService({ TEGAMI_PROVIDER: 'test' });
  });
  after(async () => {
    await tegami.stop();
  });

  test('the sign-in page says no user exists and how to make one, until one does', async () => {
    const page = await fetch(`${tegami.url}/console/sign-in`);
    assert.equal(page.status, 200);
    const text = await page.text();
    assert.match(text, NOTICE);
    for (const how of ['TEGAMI_ADMIN_EMAIL', 'TEGAMI_ADMIN_PASSWORD', 'tegami users create']) {
      assert.ok(text.includes(how), `the notice names ${how}`);
    }

    const refused = await postForm(`${tegami.url}/console/sign-in`, ADMIN);
    assert.equal(refused.status, 401);
    const refusedText = await refused.text();
    assert.match(refusedText, /Wrong e-mail address or password\./);
    assert.match(refusedText, NOTICE, 'a refused sign-in says it too');

    const created = await runTegami(
      ['users', 'create', '--email', ADMIN.email, '--role', 'admin'],
      { TEGAMI_DATABASE_URL: tegami.databaseUrl, TEGAMI_LOG_LEVEL: 'error' },
      { input: `${ADMIN.password}\n` },
    );
    assert.equal(created.code, 0, created.output);

    const after = await fetch(`${tegami.url}/console/sign-in`);
    assert.doesNotMatch(await after.text(), /no-console-user/);
    const wrong = await postForm(`${tegami.url}/console/sign-in`, {
      email: ADMIN.email,
      password: 'not-the-password-1',
    });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(await wrong.text(), /no-console-user/, 'nor once a user exists');
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    assert.equal((await admin.get('/console')).status, 200);
  });
});
