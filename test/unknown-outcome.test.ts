import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateSigningKey } from '../src/simulator/event-webhook/signing.ts';
import { type RunningSimulator, startSimulator } from '../src/simulator/index.ts';
import {
  freePort,
  message,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';

/**
 * "SendGrid said nothing, but took it": a send that timed out after the request went out is not
 * sent again blindly. If a delivery event for it arrives while it waits, it is sent exactly once.
 */

describe(`timeout after sending, then a processed event (${TEST_ENGINE})`, () => {
  const keys = generateSigningKey();
  let simulator: RunningSimulator;
  let tegami: TestService;
  const control = (method: string, path: string, body?: unknown) =>
    request(simulator.url, method, `/_simulator${path}`, body);

  before(async () => {
    const port = await freePort();
    simulator = await startSimulator({
      port: 0,
      eventWebhook: {
        url: `http://127.0.0.1:${port}/webhooks/sendgrid`,
        signingKey: keys.privateKeyBase64,
        eventDelayMs: 20,
        flushIntervalMs: 20,
      },
    });
    tegami = await startTestService({
      TEGAMI_HTTP_PORT: String(port),
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: 'SG.unknown',
      TEGAMI_SENDGRID_BASE_URL: simulator.url,
      TEGAMI_SENDGRID_TIMEOUT_MS: '300',
      TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKeyBase64,
      TEGAMI_UNKNOWN_OUTCOME_WAIT_S: '3',
    });
  });
  after(async () => {
    await tegami.stop();
    await simulator.close();
  });

  test('the simulator answers too late but accepts: one send, confirmed by its event', async () => {
    // SendGrid takes the mail but answers after our timeout.
    await control('PUT', '/faults', { latencyMs: 2500 });
    const r = await tegami.request('POST', '/v1/messages', message({ subject: 'late answer' }));
    const id = r.body.id as string;
    const sent = await waitFor(
      async () => {
        const m = await tegami.request('GET', `/v1/messages/${id}`);
        return m.body.status === 'sent' ? m.body : null;
      },
      'confirmed by the processed event',
      10_000,
    );
    await control('PUT', '/faults', {});
    assert.deepEqual(
      sent.attempts.map((a: { outcome: string }) => a.outcome),
      ['unknown'],
      'no second attempt',
    );
    // Past the confirmation window: still one send.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const stats = (await control('GET', '/stats')).body;
    assert.equal(stats.accepted, 1);
    assert.equal((await tegami.request('GET', `/v1/messages/${id}`)).body.attempts.length, 1);
  });

  test('the event arrives before the timed-out attempt is recorded: still one send', async () => {
    await control('POST', '/reset');
    // SendGrid takes the mail at once (its events follow within ms); the 202 is what is late.
    await control('PUT', '/faults', { lateAnswerMs: 2500 });
    const r = await tegami.request('POST', '/v1/messages', message({ subject: 'answer lost' }));
    const id = r.body.id as string;
    const sent = await waitFor(
      async () => {
        const m = await tegami.request('GET', `/v1/messages/${id}`);
        return m.body.status === 'sent' ? m.body : null;
      },
      'confirmed by the event that came first',
      10_000,
    );
    await control('PUT', '/faults', {});
    assert.deepEqual(
      sent.attempts.map((a: { outcome: string }) => a.outcome),
      ['unknown'],
    );
    const processed = sent.recipients[0].events.find(
      (e: { event: string }) => e.event === 'processed',
    );
    assert.ok(processed, 'the processed event is on the timeline');
    assert.ok(
      Date.parse(processed.received_at) <
        Date.parse(sent.attempts[0].started_at) + sent.attempts[0].duration_ms,
      'the event was received before the attempt was recorded',
    );
    // Past the confirmation window: still one send.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    assert.equal((await control('GET', '/stats')).body.accepted, 1);
    assert.equal((await tegami.request('GET', `/v1/messages/${id}`)).body.attempts.length, 1);
  });

  test('no event within the window: sent again once the wait is over', async () => {
    await control('POST', '/reset');
    // One request hangs (never accepted), the next is answered at once.
    await control('PUT', '/faults', { hangRate: 1 });
    const r = await tegami.request('POST', '/v1/messages', message({ subject: 'never taken' }));
    const id = r.body.id as string;
    await waitFor(async () => {
      const m = await tegami.request('GET', `/v1/messages/${id}`);
      return m.body.attempts?.length === 1 ? m.body : null;
    }, 'the first attempt timed out');
    await control('PUT', '/faults', {});
    const first = (await tegami.request('GET', `/v1/messages/${id}`)).body;
    assert.equal(first.status, 'queued');
    assert.match(first.last_error, /waiting for a delivery event/);
    const sent = await waitFor(
      async () => {
        const m = await tegami.request('GET', `/v1/messages/${id}`);
        return m.body.status === 'sent' ? m.body : null;
      },
      'sent after the window',
      10_000,
    );
    assert.deepEqual(
      sent.attempts.map((a: { outcome: string }) => a.outcome),
      ['unknown', 'accepted'],
    );
    assert.equal((await control('GET', '/stats')).body.accepted, 1);
  });
});
