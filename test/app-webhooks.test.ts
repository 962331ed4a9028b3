import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isPrivateAddress } from '../src/tracking/status-webhooks/destination-guard.ts';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver on 127.0.0.1 that answers with the next status in `statuses` (then 200). */
async function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** How an application verifies a delivery (as documented in docs/configuration.md). */
function verify(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers['tegami-webhook-timestamp']);
  const signature = String(headers['tegami-webhook-signature']);
  const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  const a = Buffer.from(signature);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

describe(`status webhooks (${TEST_ENGINE})`, () => {
  let tegami: TestService;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    });
  });
  after(async () => {
    await tegami.stop();
  });

  test('message.sent is posted, signed; secrets are not listed', async () => {
    const hook = await receiver();
    try {
      const created = await tegami.request('POST', '/v1/webhook-endpoints', {
        url: hook.url,
        events: ['message.sent'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.match(created.body.id, /^whk_/);
      const secret = created.body.secret as string;
      assert.ok(secret.length >= 40);
      const listed = await tegami.request('GET', '/v1/webhook-endpoints');
      const mine = listed.body.data.find((e: { id: string }) => e.id === created.body.id);
      assert.equal(mine.secret, undefined);

      const sent = await tegami.request(
        'POST',
        '/v1/messages',
        message({ metadata: { booking: 'b-42' } }),
      );
      assert.equal(sent.status, 202);
      const got = await waitFor(
        async () => hook.received.find((r) => r.body.includes(sent.body.id)),
        'message.sent webhook',
      );
      assert.ok(verify(secret, got.headers, got.body), 'signature verifies');
      assert.equal(verify('wrong secret', got.headers, got.body), false);
      const payload = JSON.parse(got.body);
      assert.equal(payload.type, 'message.sent');
      assert.equal(payload.id, got.headers['tegami-webhook-id']);
      assert.deepEqual(payload.data, {
        message_id: sent.body.id,
        unit: 'default',
        status: 'sent',
        metadata: { booking: 'b-42' },
      });
      assert.equal(got.headers['content-type'], 'application/json');

      const log = await waitFor(async () => {
        const r = await tegami.request(
          'GET',
          `/v1/webhook-endpoints/${created.body.id}/deliveries`,
        );
        return r.body.data[0]?.status === 'delivered' ? r.body.data : null;
      }, 'delivered in the log');
      assert.equal(log[0].type, 'message.sent');
      assert.equal(log[0].last_status, 200);
      assert.equal(
        (await tegami.request('DELETE', `/v1/webhook-endpoints/${created.body.id}`)).status,
        204,
      );
    } finally {
      await hook.close();
    }
  });

  test('a failing receiver gets the same delivery again until it answers 2xx', async () => {
    const hook = await receiver([500, 503]);
    try {
      const created = await tegami.request('POST', '/v1/webhook-endpoints', {
        url: hook.url,
        events: ['message.sent', 'message.failed'],
      });
      const sent = await tegami.request('POST', '/v1/messages', message());
      const log = await waitFor(async () => {
        const r = await tegami.request(
          'GET',
          `/v1/webhook-endpoints/${created.body.id}/deliveries`,
        );
        return r.body.data[0]?.status === 'delivered' ? r.body.data : null;
      }, 'delivered after retries');
      assert.equal(log.length, 1);
      assert.equal(log[0].attempts, 3);
      assert.equal(log[0].last_status, 200);
      assert.equal(log[0].last_error, null);
      assert.equal(hook.received.length, 3);
      const ids = new Set(hook.received.map((r) => r.headers['tegami-webhook-id']));
      assert.equal(ids.size, 1, 'the same delivery each time');
      assert.ok(hook.received.every((r) => r.body.includes(sent.body.id)));
      await tegami.request('DELETE', `/v1/webhook-endpoints/${created.body.id}`);
    } finally {
      await hook.close();
    }
  });

  test('recipient.delivered after a delivery event', async () => {
    const hook = await receiver();
    try {
      const created = await tegami.request('POST', '/v1/webhook-endpoints', {
        url: hook.url,
        events: ['recipient.delivered'],
      });
      const sent = await tegami.request('POST', '/v1/messages', message());
      await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/messages/${sent.body.id}`);
        return r.body.status === 'sent';
      }, 'sent');
      const now = Math.floor(Date.now() / 1000);
      const events = ['processed', 'delivered'].map((event, i) => ({
        email: 'guest@example.com',
        event,
        timestamp: now + i,
        sg_event_id: `evt-${sent.body.id}-${event}`,
        sg_message_id: 'sg-x.filter',
        tegami_message_id: sent.body.id,
      }));
      const posted = await fetch(`${tegami.url}/webhooks/sendgrid`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(events),
      });
      assert.equal(posted.status, 200);
      const got = await waitFor(
        async () => hook.received.find((r) => r.body.includes(sent.body.id)),
        'recipient.delivered webhook',
      );
      const payload = JSON.parse(got.body);
      assert.equal(payload.type, 'recipient.delivered');
      assert.deepEqual(payload.data.recipient, {
        email: 'guest@example.com',
        delivery_status: 'delivered',
      });
      assert.equal(hook.received.length, 1, 'accepted (processed) is not posted');
      await tegami.request('DELETE', `/v1/webhook-endpoints/${created.body.id}`);
    } finally {
      await hook.close();
    }
  });

  test('bad input is a 400; an unknown endpoint a 404', async () => {
    for (const body of [
      { url: 'ftp://example.com/x', events: ['message.sent'] },
      { url: 'not a url', events: ['message.sent'] },
      { url: 'https://example.com/x', events: [] },
      { url: 'https://example.com/x', events: ['message.exploded'] },
      { url: 'https://example.com/x', events: ['message.sent'], extra: 1 },
      { url: 'https://example.com/x', events: ['message.sent'], secret: 'short' },
    ]) {
      const r = await tegami.request('POST', '/v1/webhook-endpoints', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'invalid_request');
    }
    const repeated = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: 'https://example.com/x',
      events: ['message.sent', 'message.failed', 'message.sent'],
    });
    assert.equal(repeated.status, 400);
    assert.deepEqual(repeated.body.error.details, [
      { field: 'events', message: 'must not repeat a value (items 0 and 2 are the same)' },
    ]);
    assert.equal((await tegami.request('DELETE', '/v1/webhook-endpoints/whk_nope')).status, 404);
    assert.equal(
      (await tegami.request('GET', '/v1/webhook-endpoints/whk_nope/deliveries')).status,
      404,
    );
  });
});

describe(`status webhooks: redelivery after the retry window (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService({
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
      TEGAMI_WEBHOOKS_RETRY_WINDOW_S: '1',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
    });
  });
  after(async () => {
    await tegami.stop();
  });

  test('failed once the window is over; redeliver sends it again, once', async () => {
    const down = Array.from({ length: 1000 }, () => 503);
    const hook = await receiver(down);
    try {
      const created = await tegami.request('POST', '/v1/webhook-endpoints', {
        url: hook.url,
        events: ['message.sent'],
      });
      const id = created.body.id as string;
      const sent = await tegami.request('POST', '/v1/messages', message());
      const failed = await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/webhook-endpoints/${id}/deliveries`);
        return r.body.data[0]?.status === 'failed' ? r.body.data[0] : null;
      }, 'failed after the 1 s window');
      assert.equal(failed.last_status, 503);
      assert.ok(failed.attempts >= 2, `retried within the window (${failed.attempts} attempts)`);

      const future = new Date(Date.now() + 60_000).toISOString();
      const none = await tegami.request('POST', `/v1/webhook-endpoints/${id}/redeliver`, {
        since: future,
      });
      assert.deepEqual(none.body, { requeued: 0 });

      down.length = 0; // the application is back
      const before = hook.received.length;
      const again = await tegami.request('POST', `/v1/webhook-endpoints/${id}/redeliver`, {});
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { requeued: 1 });
      const delivered = await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/webhook-endpoints/${id}/deliveries`);
        return r.body.data[0]?.status === 'delivered' ? r.body.data[0] : null;
      }, 'delivered after redelivery');
      assert.equal(delivered.id, failed.id, 'the same delivery, not a new one');
      assert.equal(delivered.last_status, 200);
      assert.equal(hook.received.length, before + 1);
      assert.ok(hook.received.at(-1)?.body.includes(sent.body.id));
      // Nothing failed is left: a second redelivery requeues nothing.
      const twice = await tegami.request('POST', `/v1/webhook-endpoints/${id}/redeliver`);
      assert.deepEqual(twice.body, { requeued: 0 });
    } finally {
      await hook.close();
    }
  });

  test('redeliver: a since without a zone is UTC, as in the list filters', async () => {
    const hook = await receiver(Array.from({ length: 1000 }, () => 503));
    // East of UTC, a time without a zone read as local time would be 9 hours earlier.
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      const created = await tegami.request('POST', '/v1/webhook-endpoints', {
        url: hook.url,
        events: ['message.sent'],
      });
      const id = created.body.id as string;
      await tegami.request('POST', '/v1/messages', message());
      await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/webhook-endpoints/${id}/deliveries`);
        return r.body.data[0]?.status === 'failed';
      }, 'failed after the 1 s window');
      /** A time as GET /v1/messages?created_after= takes it without a zone (UTC). */
      const utcWithoutZone = (ms: number) => new Date(ms).toISOString().slice(0, 16);
      const redeliver = (since: string) =>
        tegami.request('POST', `/v1/webhook-endpoints/${id}/redeliver`, { since });

      const later = utcWithoutZone(Date.now() + 30 * 60_000);
      const none = await redeliver(later);
      assert.equal(none.status, 200, JSON.stringify(none.body));
      assert.deepEqual(none.body, { requeued: 0 }, `${later} is half an hour from now in UTC`);
      const audit = await tegami.request(
        'GET',
        '/v1/audit-events?action=webhook_endpoint.redeliver&limit=1',
      );
      assert.deepEqual(audit.body.data[0].filter, { since: `${later}:00.000Z` });
      // The list filters read it the same way: the message is not created after it either.
      const listed = await tegami.request('GET', `/v1/messages?created_after=${later}`);
      assert.deepEqual(listed.body.data, []);

      const earlier = utcWithoutZone(Date.now() - 30 * 60_000);
      const again = await redeliver(earlier);
      assert.deepEqual(again.body, { requeued: 1 }, `${earlier} is half an hour ago in UTC`);

      // A day that does not exist is refused, as in the list filters (not read as 2 March).
      const missing = await redeliver('2026-02-30T10:00');
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.details[0].field, 'since');
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
      await hook.close();
    }
  });

  test('redeliver: bad input is a 400, an unknown endpoint a 404', async () => {
    for (const body of [{ since: 'yesterday' }, { since: 5 }, { other: true }]) {
      const r = await tegami.request('POST', '/v1/webhook-endpoints/whk_x/redeliver', body);
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    const r = await tegami.request('POST', '/v1/webhook-endpoints/whk_nope/redeliver', {});
    assert.equal(r.status, 404);
  });
});

describe(`status webhooks refuse private destinations (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService();
  });
  after(async () => {
    await tegami.stop();
  });

  test('loopback and private URLs are refused at registration', async () => {
    for (const url of [
      'http://127.0.0.1:9/hooks',
      'http://localhost:9/hooks',
      'http://10.1.2.3/hooks',
      'http://[::1]/hooks',
      'http://169.254.169.254/latest/meta-data',
    ]) {
      const r = await tegami.request('POST', '/v1/webhook-endpoints', {
        url,
        events: ['message.sent'],
      });
      assert.equal(r.status, 400, url);
      assert.match(r.body.error.details[0].message, /TEGAMI_WEBHOOKS_ALLOW_PRIVATE/);
    }
  });

  test('the address rule', () => {
    for (const a of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
    ])
      assert.equal(isPrivateAddress(a), true, a);
    for (const a of ['93.184.216.34', '172.32.0.1', '100.128.0.1', '2606:2800:220:1::1', '8.8.8.8'])
      assert.equal(isPrivateAddress(a), false, a);
  });
});
