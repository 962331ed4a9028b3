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

const SENDGRID_KEY = 'SG.echoed-back-secret-0123456789';
const SLACK_URL = 'http://127.0.0.1:9/services/T000/B000/slack-secret-path';

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
      TEGAMI_SLACK_WEBHOOK_URL: SLACK_URL,
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
      assert.ok(!output.includes('slack-secret-path'), 'the Slack URL is not in the log');
    } finally {
      tegami.child.kill('SIGTERM');
      await tegami.exited;
      echo.close();
      await db.cleanup();
    }
  });
});
