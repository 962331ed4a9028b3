import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queryDatabase, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * The console's users page after "Create user", as a browser's requests meet it: the answer sends
 * the admin to the page, whose link names the new user by id, and the page says the user was
 * created by the address the users hold; a link cannot make it say anything else.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';

describe(`console users page: a user created is said so (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;

  /** The notice of a users page that a user was created, as it reads, or null. */
  function createdNotice(text: string): string | null {
    const notice = /<div class="card notice" role="status" id="user-created">(.*?)<\/div>/s.exec(
      text,
    )?.[1];
    return notice === undefined ? null : notice.replace(/<[^>]+>/g, '').trim();
  }

  /** The id the database gave the user with this address. */
  async function idOf(email: string): Promise<string> {
    const rows = await queryDatabase<{ id: string }>(
      tegami.databaseUrl,
      'select id from console_users where email = ?',
      [email],
    );
    assert.equal(rows.length, 1, `${email} was created`);
    return rows[0]?.id as string;
  }

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
    });
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  test('the answer to "Create user" is the users page saying so, the address linking to its row', async () => {
    const r = await admin.post('/console/users', {
      email: 'Night-Desk@Example.jp',
      password: PASSWORD,
      role: 'operator',
      units: '*',
    });
    assert.equal(r.status, 303, r.text.slice(0, 300));
    const id = await idOf('night-desk@example.jp');
    assert.equal(r.location, `/console/users?created=${id}`);
    const shown = await admin.get(r.location ?? '');
    assert.equal(shown.status, 200);
    // The address as the users hold it (in lower case), not as it was typed.
    assert.equal(createdNotice(shown.text), 'Created user night-desk@example.jp.');
    assert.ok(shown.text.includes(`<a href="#user-${id}"><strong>night-desk@example.jp</strong>`));
    assert.ok(shown.text.includes(`<tr id="user-${id}">`), 'its row, which the link opens at');
    assert.ok(!shown.text.includes(PASSWORD), 'the password is not shown');
    // A page without a user just created says none was.
    assert.equal(createdNotice((await admin.get('/console/users')).text), null);
    // A refused form says no user was created, and no notice that one was.
    const refused = await admin.post('/console/users', {
      email: 'night-desk@example.jp',
      password: PASSWORD,
      role: 'operator',
    });
    assert.equal(refused.status, 409, refused.text.slice(0, 300));
    assert.equal(createdNotice(refused.text), null);
  });

  test('the notice says the address the users hold, whatever the link: one naming no user is refused with 400', async () => {
    const adminId = await idOf(ADMIN.email);
    const named = await admin.get(`/console/users?created=${adminId}`);
    assert.equal(named.status, 200);
    assert.equal(createdNotice(named.text), `Created user ${ADMIN.email}.`);
    for (const created of [
      'Hacked: send your password',
      `usr_${'0'.repeat(26)}`,
      `${adminId}x`,
      'admin@example.jp',
    ]) {
      const r = await admin.get(`/console/users?created=${encodeURIComponent(created)}`);
      assert.equal(r.status, 400, `${created}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /<p class="error" role="alert">That user does not exist\./);
      assert.ok(!r.text.includes('Hacked'), 'the link is not shown back');
    }
    // An empty one is no user created: the page as it is.
    const empty = await admin.get('/console/users?created=');
    assert.equal(empty.status, 200);
    assert.equal(createdNotice(empty.text), null);
  });
});
