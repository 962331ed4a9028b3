import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';

/**
 * What a client author reads in the answers that make something (docs/api-errors.md, "Answers
 * that make something"): `Location` where the thing is read back, 201 when made and 200 when it
 * was already there, and the same fields in a list or a creation's answer as in the single read.
 */
describe(`answers that make something (${TEST_ENGINE})`, () => {
  let tegami: TestService;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      // One failure dead-letters a message: mail for a recovery to retry.
      TEGAMI_RETRY_MAX_ATTEMPTS: '1',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
  });
  after(async () => {
    await tegami?.stop();
  });

  /** The answer's Location, followed with GET: the thing itself. */
  async function follow(answer: { headers: Headers }) {
    const location = answer.headers.get('location');
    assert.ok(location, 'a Location header');
    assert.match(location, /^\/v1\//, 'a path on this server');
    const read = await tegami.request('GET', location);
    assert.equal(read.status, 200, `GET ${location}: ${JSON.stringify(read.body)}`);
    return { location, body: read.body };
  }

  test('a message: 202 with the Location of GET /v1/messages/{id}, the same on a replay; a batch has none', async () => {
    const key = { 'idempotency-key': 'created-answers-1' };
    const accepted = await tegami.request('POST', '/v1/messages', message(), key);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const { location, body } = await follow(accepted);
    assert.equal(location, `/v1/messages/${accepted.body.id}`);
    assert.equal(body.id, accepted.body.id);

    const replayed = await tegami.request('POST', '/v1/messages', message(), key);
    assert.equal(replayed.status, 202);
    assert.equal(replayed.headers.get('idempotent-replayed'), 'true');
    assert.equal(replayed.headers.get('location'), location);

    const batch = await tegami.request('POST', '/v1/messages/batch', {
      messages: [message(), message()],
    });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    assert.equal(batch.headers.get('location'), null);
    for (const result of batch.body.results) {
      const read = await tegami.request('GET', `/v1/messages/${result.id}`);
      assert.equal(read.status, 200);
    }
    // A refusal makes nothing: no Location.
    const refused = await tegami.request('POST', '/v1/messages', message({ subject: 5 }));
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('location'), null);
  });

  test('a unit: 201 with Location; its creation and the list show what GET /v1/units/{id} shows', async () => {
    const made = await tegami.request('POST', '/v1/units', { name: 'hotel' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { location, body } = await follow(made);
    assert.equal(location, `/v1/units/${made.body.id}`);
    assert.deepEqual(made.body, body);
    assert.deepEqual(Object.keys(made.body), [
      'id',
      'name',
      'created_at',
      'rate_limit_per_min',
      'default_priority',
      'alerts',
    ]);

    const changed = await tegami.request('PUT', '/v1/units/hotel', {
      rate_limit_per_min: 600,
      default_priority: 'high',
      slack_webhook_url: 'http://127.0.0.1:9/services/T0/B0/secret',
      alerts: { dead_letters: 3 },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const listed = await tegami.request('GET', '/v1/units');
    assert.equal(listed.status, 200);
    for (const unit of listed.body.data) {
      const single = await tegami.request('GET', `/v1/units/${unit.id}`);
      assert.deepEqual(unit, single.body, unit.name);
    }
    const hotel = listed.body.data.find((u: { name: string }) => u.name === 'hotel');
    assert.equal(hotel.rate_limit_per_min, 600);
    assert.equal(hotel.default_priority, 'high');
    assert.deepEqual(hotel.alerts.thresholds, { dead_letters: 3 });
    assert.ok(!JSON.stringify(hotel).includes('secret'), 'the Slack URL is masked');
    // A name already taken makes nothing.
    const again = await tegami.request('POST', '/v1/units', { name: 'hotel' });
    assert.equal(again.status, 409);
    assert.equal(again.headers.get('location'), null);
  });

  test('a webhook endpoint: 201 with Location, read back there without its secret; deleted, 404', async () => {
    const made = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.sent'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { location, body } = await follow(made);
    assert.equal(location, `/v1/webhook-endpoints/${made.body.id}`);
    const { secret, ...shown } = made.body;
    assert.equal(typeof secret, 'string');
    assert.deepEqual(body, shown);
    const listed = await tegami.request('GET', '/v1/webhook-endpoints');
    assert.deepEqual(
      listed.body.data.find((e: { id: string }) => e.id === made.body.id),
      body,
    );
    assert.equal((await tegami.request('DELETE', location)).status, 204);
    const gone = await tegami.request('GET', location);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'not_found');
    // The deleted endpoint's log stays readable.
    assert.equal((await tegami.request('GET', `${location}/deliveries`)).status, 200);
  });

  test('a recovery: 202 with Location; a dry run makes nothing and has none', async () => {
    const dry = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed', category: 'nothing-here' },
    });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.headers.get('location'), null);
    const started = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed', category: 'nothing-here' },
      dry_run: false,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const { location, body } = await follow(started);
    assert.equal(location, `/v1/recoveries/${started.body.id}`);
    assert.equal(body.id, started.body.id);
  });

  test('cancelling a recovery answers as its read does, with its outcome', async () => {
    const messages = Array.from({ length: 6 }, (_, i) =>
      message({ to: [{ email: `permanent+${i}@example.jp` }], categories: ['to-cancel'] }),
    );
    assert.equal((await tegami.request('POST', '/v1/messages/batch', { messages })).status, 202);
    await waitFor(async () => {
      const l = await tegami.request(
        'GET',
        '/v1/messages?status=failed&category=to-cancel&count=true',
      );
      return l.body.total === messages.length;
    }, 'every message dead-lettered');
    // One message a second: still running when cancelled.
    const started = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed', category: 'to-cancel' },
      dry_run: false,
      rate_per_s: 1,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const cancelled = await tegami.request('POST', `/v1/recoveries/${started.body.id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.state, 'cancelled');
    const read = await tegami.request('GET', `/v1/recoveries/${started.body.id}`);
    assert.deepEqual(Object.keys(cancelled.body), Object.keys(read.body));
    const outcome = cancelled.body.outcome;
    assert.deepEqual(Object.keys(outcome), ['sent', 'failed', 'waiting', 'cancelled', 'moved_on']);
    const counted = Object.values(outcome as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.equal(counted, cancelled.body.done, JSON.stringify(cancelled.body));

    // A cancel recovery keeps no outcome: null, as its read says.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const scheduled = Array.from({ length: 6 }, () =>
      message({ send_at: tomorrow, categories: ['scheduled-to-cancel'] }),
    );
    assert.equal(
      (await tegami.request('POST', '/v1/messages/batch', { messages: scheduled })).status,
      202,
    );
    const cancelling = await tegami.request('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { status: 'scheduled', category: 'scheduled-to-cancel' },
      dry_run: false,
      rate_per_s: 1,
    });
    assert.equal(cancelling.status, 202, JSON.stringify(cancelling.body));
    const stopped = await tegami.request('POST', `/v1/recoveries/${cancelling.body.id}/cancel`);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal(stopped.body.outcome, null);
    const stoppedRead = await tegami.request('GET', `/v1/recoveries/${cancelling.body.id}`);
    assert.equal(stoppedRead.body.outcome, null);
  });

  test('the SendGrid event relay: 201 with Location when made, 200 when its URL changes', async () => {
    const made = await tegami.request('PUT', '/v1/sendgrid/event-relay', {
      url: 'http://127.0.0.1:9/events',
      unit: 'default',
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { location, body } = await follow(made);
    assert.equal(location, '/v1/sendgrid/event-relay?unit=default');
    assert.equal(body.public_key, made.body.public_key);
    const moved = await tegami.request('PUT', '/v1/sendgrid/event-relay', {
      url: 'http://127.0.0.1:9/moved',
    });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.headers.get('location'), null);
    assert.equal(moved.body.public_key, made.body.public_key);
    assert.equal(moved.body.url, 'http://127.0.0.1:9/moved');
    // Removed and put again: made anew, with a new key pair.
    assert.equal((await tegami.request('DELETE', '/v1/sendgrid/event-relay')).status, 204);
    const anew = await tegami.request('PUT', '/v1/sendgrid/event-relay', {
      url: 'http://127.0.0.1:9/events',
    });
    assert.equal(anew.status, 201);
    assert.notEqual(anew.body.public_key, made.body.public_key);
  });

  test('a suppression: 201 when added, 200 when the unit had it; no Location (no entry is read alone)', async () => {
    const added = await tegami.request('POST', '/v1/suppressions', {
      email: 'Guest@Example.com',
    });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.headers.get('location'), null);
    const again = await tegami.request('POST', '/v1/suppressions', {
      email: 'guest@example.com',
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body, added.body);
  });

  test('a malformed message_id on an endpoint log is said in words, as everywhere', async () => {
    const made = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/log',
      events: ['message.sent'],
    });
    for (const bad of [
      'msg_123',
      'MSG_01JB8ZQ4W5X3C2V1N0M9K8J7H6',
      'whd_01JB8ZQ4W5X3C2V1N0M9K8J7H6',
    ]) {
      const answer = await tegami.request(
        'GET',
        `/v1/webhook-endpoints/${made.body.id}/deliveries?message_id=${bad}`,
      );
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.error.details, [
        {
          field: 'querystring.message_id',
          message: 'must be a message id, like msg_01JB8ZQ4W5X3C2V1N0M9K8J7H6',
        },
      ]);
    }
    const good = await tegami.request(
      'GET',
      `/v1/webhook-endpoints/${made.body.id}/deliveries?message_id=msg_01JB8ZQ4W5X3C2V1N0M9K8J7H6`,
    );
    assert.equal(good.status, 200, JSON.stringify(good.body));
  });
});
