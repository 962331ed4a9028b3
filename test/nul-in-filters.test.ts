import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queryDatabase, startTestService, type TestService } from './helpers.ts';

/**
 * U+0000 in a filter: PostgreSQL cannot hold it in text, so it refused such a filter while SQLite
 * matched nothing (and started a recovery with it). Refused alike on every engine, naming the
 * field, and nothing is recorded.
 */
describe('NUL in filters', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(() => svc.stop());

  for (const [path, field] of [
    ['/v1/messages?category=a%00b', 'querystring.category'],
    ['/v1/unsent?recipient=a%00b%40example.com', 'querystring.recipient'],
    ['/v1/unsent/summary?provider=%00', 'querystring.provider'],
    ['/v1/audit-events?actor=a%00', 'querystring.actor'],
    ['/v1/suppressions?email=a%00%40example.com', 'querystring.email'],
  ] as const) {
    test(`GET ${path} → 400 naming ${field}`, async () => {
      const answer = await svc.request('GET', path);
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'invalid_request');
      assert.deepEqual(
        answer.body.error.details.map((d: { field: string }) => d.field),
        [field],
      );
    });
  }

  test('a recovery whose filter holds NUL: 400 naming it, no recovery, no audit event', async () => {
    const count = async (table: string) =>
      Number(
        (
          await queryDatabase<{ n: number }>(svc.databaseUrl, `select count(*) as n from ${table}`)
        )[0]?.n,
      );
    const before = [await count('recoveries'), await count('audit_events')];
    for (const [filter, field] of [
      [{ category: 'a\u0000b' }, 'filter.category'],
      [{ metadata: { booking: 'a\u0000' } }, 'filter.metadata'],
      [{ metadata: { 'bo\u0000oking': 'a' } }, 'filter.metadata'],
    ] as const) {
      const answer = await svc.request('POST', '/v1/recoveries', {
        action: 'retry',
        filter,
        dry_run: false,
      });
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.ok(
        answer.body.error.details.some((d: { field: string }) => d.field === field),
        JSON.stringify(answer.body),
      );
    }
    assert.deepEqual([await count('recoveries'), await count('audit_events')], before);
  });
});
