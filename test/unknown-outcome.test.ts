import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';

/**
 * "SendGrid said nothing, but took it": a send that timed out after the request went out is not
 * sent again blindly. If a delivery event for it arrives while it waits, it is sent exactly once.
 */

describe(`timeout after sending, then a processed event (${TEST_ENGINE})`, () => {
  let setup: SignedEventsSetup;
  let tegami: TestService;

  before(async () => {
    setup = await startWithSignedEvents({
      apiKey: 'SG.unknown',
      env: { TEGAMI_SENDGRID_TIMEOUT_MS: '300', TEGAMI_UNKNOWN_OUTCOME_WAIT_S: '3' },
    });
    ({ tegami } = setup);
  });
  after(() => setup?.stop());

  test('the simulator answers too late but accepts: one send, confirmed by its event', async () => {
    // SendGrid takes the mail but answers after our timeout.
    await setup.control('PUT', '/faults', { latencyMs: 2500 });
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
    await setup.control('PUT', '/faults', {});
    assert.deepEqual(
      sent.attempts.map((a: { outcome: string }) => a.outcome),
      ['unknown'],
      'no second attempt',
    );
    // Past the confirmation window: still one send.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const stats = (await setup.control('GET', '/stats')).body;
    assert.equal(stats.accepted, 1);
    assert.equal((await tegami.request('GET', `/v1/messages/${id}`)).body.attempts.length, 1);
  });

  test('the event arrives before the timed-out attempt is recorded: still one send', async () => {
    await setup.control('POST', '/reset');
    // SendGrid takes the mail at once (its events follow within ms); the 202 is what is late.
    await setup.control('PUT', '/faults', { lateAnswerMs: 2500 });
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
    await setup.control('PUT', '/faults', {});
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
    assert.equal((await setup.control('GET', '/stats')).body.accepted, 1);
    assert.equal((await tegami.request('GET', `/v1/messages/${id}`)).body.attempts.length, 1);
  });

  test('no event within the window: sent again once the wait is over', async () => {
    await setup.control('POST', '/reset');
    // One request hangs (never accepted), the next is answered at once.
    await setup.control('PUT', '/faults', { hangRate: 1 });
    const r = await tegami.request('POST', '/v1/messages', message({ subject: 'never taken' }));
    const id = r.body.id as string;
    await waitFor(async () => {
      const m = await tegami.request('GET', `/v1/messages/${id}`);
      return m.body.attempts?.length === 1 ? m.body : null;
    }, 'the first attempt timed out');
    await setup.control('PUT', '/faults', {});
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
    assert.equal((await setup.control('GET', '/stats')).body.accepted, 1);
  });
});
