import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { request, spawnTegami, TEST_KEY, tempDatabase, waitFor } from './helpers.ts';

/**
 * The runbook sends operators to the log when SendGrid's events stop arriving: a refused Event
 * Webhook request must be there at the default log level, without a flood of them flooding it.
 */
describe('refused Event Webhook requests are logged', () => {
  const db = tempDatabase();
  after(() => db.cleanup());

  test('at warn, at the default level, once for a burst, with the reason', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const server = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_LOG_LEVEL: 'info',
      TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: spki,
    });
    try {
      const url = await server.ready;
      const events = [{ email: 'guest@example.com', event: 'delivered', sg_event_id: 'e1' }];
      for (let i = 0; i < 5; i++) {
        const refused = await request(url, 'POST', '/webhooks/sendgrid', events, {
          'x-twilio-email-event-webhook-signature': 'MEUCIQDnotasignature',
          'x-twilio-email-event-webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        });
        assert.equal(refused.status, 403);
        assert.equal(refused.body.error.code, 'invalid_signature');
      }
      const line = await waitFor(
        async () =>
          server
            .output()
            .split('\n')
            .find((l) => l.includes('/webhooks/sendgrid refused')),
        'the refusal in the log',
      );
      const entry = JSON.parse(line);
      assert.equal(entry.level, 40, 'warn');
      assert.equal(
        entry.msg,
        'POST /webhooks/sendgrid refused: 403 invalid_signature: the signature does not match',
      );
      assert.equal(entry.reason, 'the signature does not match');
      const lines = server
        .output()
        .split('\n')
        .filter((l) => l.includes('/webhooks/sendgrid refused'));
      assert.equal(lines.length, 1, 'five refusals in a row make one line');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
