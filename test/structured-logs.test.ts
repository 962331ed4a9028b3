import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import {
  message,
  request,
  spawnTegami,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * Every log line about a message's attempt carries the fields an operator searches JSON logs by:
 * message_id, unit, attempt, provider and error_class (named as in the API).
 */
describe(`structured logs (${TEST_ENGINE})`, () => {
  test('a dead-lettered and a retried message are logged with message_id, unit, attempt, provider, error_class', async () => {
    const db = tempDatabase();
    const serve = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_PROVIDER: 'test',
      TEGAMI_LOG_LEVEL: 'info',
      TEGAMI_RETRY_BASE_DELAY_MS: '100',
    });
    try {
      const url = await serve.ready;
      const failed = await request(
        url,
        'POST',
        '/v1/messages',
        message({ to: [{ email: 'permanent@example.com' }] }),
      );
      const retried = await request(
        url,
        'POST',
        '/v1/messages',
        message({ to: [{ email: 'retryable-1@example.com' }] }),
      );
      assert.equal(failed.status, 202);
      assert.equal(retried.status, 202);
      const lines = () =>
        serve
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      const deadLettered = await waitFor(
        async () =>
          lines().find(
            (l) => l.message_id === failed.body.id && /dead-lettered/.test(String(l.msg)),
          ),
        'the dead-letter log line',
      );
      const retry = await waitFor(
        async () =>
          lines().find((l) => l.message_id === retried.body.id && /will retry/.test(String(l.msg))),
        'the retry log line',
      );
      for (const line of [deadLettered, retry]) {
        assert.match(String(line.unit), /^unit_/);
        assert.equal(line.attempt, 1);
        assert.equal(line.provider, 'test');
      }
      assert.equal(deadLettered.error_class, 'http_400');
      assert.equal(retry.error_class, 'http_503');
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
      await db.cleanup();
    }
  });
});

const SENDGRID_KEY = 'SG.echoed-back-secret-0123456789';

/**
 * A remote's error text is logged as it came. An endpoint that echoes the request back (a
 * misconfigured proxy, a hostile stand-in) must not put the configured credentials in the log.
 */
describe(`configured secrets stay out of the log (${TEST_ENGINE})`, () => {
  test('a SendGrid stand-in that echoes the Authorization header: the key is blanked out', async () => {
    const seen: string[] = [];
    const echo = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          errors: [{ message: `bad key: ${req.headers.authorization}`, field: null, help: null }],
        }),
      );
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const db = tempDatabase();
    const tegami = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: SENDGRID_KEY,
      TEGAMI_SENDGRID_BASE_URL: `http://127.0.0.1:${(echo.address() as AddressInfo).port}`,
      TEGAMI_LOG_LEVEL: 'debug',
    });
    try {
      const url = await tegami.ready;
      const r = await request(url, 'POST', '/v1/messages', message());
      assert.equal(r.status, 202, JSON.stringify(r.body));
      await waitFor(
        async () => seen.length > 0 && tegami.output().includes('[redacted]'),
        'the echoed answer to be logged',
      );
      const output = tegami.output();
      assert.ok(!output.includes(SENDGRID_KEY), 'the SendGrid key is not in the log');
    } finally {
      tegami.child.kill('SIGTERM');
      await tegami.exited;
      echo.close();
      await db.cleanup();
    }
  });
});
