import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * Every console list paged by "Older … →" (a link naming the last row shown) refuses a link no
 * page made with 400 and says that page does not exist, before reading anything: passed on, it
 * would find nothing and read as the end of the list. A well-formed id of a row deleted since
 * (retention) still names a place in the list.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

describe(`console page links (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  let endpoint = '';

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    const made = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.sent'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    endpoint = made.body.id;
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  /** Each paged list: its path, the cursor's name, the ids it pages by, and the list's name. */
  const lists = () => [
    { path: '/console/messages', cursor: 'before', prefix: 'msg', what: 'messages' },
    { path: '/console/unsent', cursor: 'before', prefix: 'msg', what: 'unsent mail' },
    { path: '/console/alerts', cursor: 'before', prefix: 'alt', what: 'alerts' },
    { path: '/console/recoveries', cursor: 'older', prefix: 'rec', what: 'recoveries' },
    { path: '/console/audit', cursor: 'older', prefix: 'aud', what: 'the audit log' },
    {
      path: '/console/webhooks',
      cursor: 'older',
      prefix: 'whk',
      what: 'status webhook endpoints',
    },
    {
      path: `/console/webhooks/${endpoint}/deliveries`,
      cursor: 'older',
      prefix: 'whd',
      what: 'status webhooks',
    },
  ];

  test('a link no page made is refused with 400 and says so', async () => {
    for (const list of lists()) {
      for (const value of [
        'garbage',
        `${list.prefix}_${'0'.repeat(25)}`,
        `${list.prefix}_${'a'.repeat(26)}`,
        // Another list's id.
        `${list.prefix === 'key' ? 'unit' : 'key'}_${'0'.repeat(26)}`,
      ]) {
        const r = await admin.get(`${list.path}?${list.cursor}=${encodeURIComponent(value)}`);
        assert.equal(r.status, 400, `${list.path} ${value}: ${r.text.slice(0, 300)}`);
        assert.ok(
          r.text.includes(`That page of ${list.what} does not exist.`),
          `${list.path} ${value}: ${r.text.slice(0, 600)}`,
        );
      }
    }
  });

  test('a well-formed id, of a row deleted since too, still pages; none or an empty one is the first page', async () => {
    for (const list of lists()) {
      for (const value of [
        `${list.prefix}_${'0'.repeat(26)}`,
        `${list.prefix}_${'Z'.repeat(26)}`,
      ]) {
        const r = await admin.get(`${list.path}?${list.cursor}=${value}`);
        assert.equal(r.status, 200, `${list.path} ${value}: ${r.text.slice(0, 300)}`);
      }
      const empty = await admin.get(`${list.path}?${list.cursor}=`);
      assert.equal(empty.status, 200, `${list.path}: ${empty.text.slice(0, 300)}`);
    }
  });
});
