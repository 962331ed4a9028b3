import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { classifyAnswer } from '../src/providers/sendgrid/classify-response.ts';
import { message, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

const SENDER_403 = JSON.stringify({
  errors: [
    {
      message:
        'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.',
      field: 'from',
      help: null,
    },
  ],
});

/**
 * SendGrid refuses mail from a sender that is not a verified Sender Identity with a 403 naming
 * the `from` field. That is one application's mistake, not the account's: it used to pause the
 * provider, holding every unit's mail, and each probe that sent the same mail paused it again.
 */
describe(`a sender SendGrid has not verified (${TEST_ENGINE})`, () => {
  test('a 403 naming the sender is the message’s, retried with its back-off; other 403s pause the provider', () => {
    const now = Date.UTC(2026, 11, 4);
    const sender = classifyAnswer({ status: 403, headers: {}, body: SENDER_403 }, now);
    assert.equal(sender.outcome, 'retryable');
    assert.equal(sender.errorClass, 'sender_not_verified');
    assert.equal(sender.providerFault, undefined);
    assert.match(sender.detail ?? '', /^from: The from address does not match/);

    for (const body of [
      '{"errors":[{"message":"access forbidden","field":null,"help":null}]}',
      '{"errors":[{"message":"You have exceeded your messaging limits","field":null}]}',
      '',
    ]) {
      const account = classifyAnswer({ status: 403, headers: {}, body }, now);
      assert.equal(account.providerFault, 'account', body);
      assert.equal(account.outcome, 'retryable', body);
    }
  });

  describe('through the simulator', () => {
    let setup: SimulatorSetup;
    let tegami: TestService;
    before(async () => {
      setup = await startWithSimulator(
        'SG.senders',
        {
          // Two tries, close together: the retries of the message's own back-off, then
          // dead-lettered.
          TEGAMI_RETRY_MAX_ATTEMPTS: '2',
          TEGAMI_RETRY_BASE_DELAY_MS: '100',
          TEGAMI_RETRY_MAX_DELAY_MS: '200',
        },
        { simulator: { faults: { unverifiedSenders: ['@other.example'] } } },
      );
      ({ tegami } = setup);
    });
    after(() => setup?.stop());

    test('mail from the unverified sender is retried, then dead-lettered; the rest is sent, the provider stays healthy', async () => {
      const bad = await tegami.request(
        'POST',
        '/v1/messages',
        message({ from: { email: 'bookings@other.example' } }),
      );
      assert.equal(bad.status, 202);
      const failed = await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/messages/${bad.body.id}`);
        return r.body.status === 'failed' ? r.body : null;
      }, 'the unverified sender’s message to be dead-lettered');
      assert.equal(failed.attempts.length, 2, 'retried as the message’s back-off says');
      for (const attempt of failed.attempts) {
        assert.equal(attempt.http_status, 403);
        assert.equal(attempt.error_class, 'sender_not_verified');
      }

      const providers = await tegami.request('GET', '/v1/providers');
      assert.equal(providers.body.providers[0].state, 'healthy', JSON.stringify(providers.body));

      const good = await tegami.request('POST', '/v1/messages', message());
      assert.equal(good.status, 202);
      await waitFor(
        async () =>
          (await tegami.request('GET', `/v1/messages/${good.body.id}`)).body.status === 'sent',
        'mail from a verified sender to be sent',
        5_000,
      );
      const found = await tegami.request(
        'GET',
        '/v1/messages?status=failed&error_class=sender_not_verified',
      );
      assert.deepEqual(
        found.body.data.map((m: { id: string }) => m.id),
        [bad.body.id],
        'found by its error class, for a recovery once the sender is verified',
      );
    });
  });
  describe('a 403 fault of the simulator', () => {
    let setup: SimulatorSetup;
    before(async () => {
      setup = await startWithSimulator('SG.account-403');
    });
    after(() => setup?.stop());

    test('is the account’s: the provider is paused and the mail waits, none dead-lettered', async () => {
      const { tegami } = setup;
      await setup.control('PUT', '/faults', { errorRates: { '403': 1 } });
      const submitted = await tegami.request('POST', '/v1/messages', message());
      assert.equal(submitted.status, 202);
      const provider = await waitFor(async () => {
        const r = await tegami.request('GET', '/v1/providers');
        return r.body.providers[0]?.state === 'paused' ? r.body.providers[0] : null;
      }, 'the provider paused by a 403 that names no field');
      assert.match(JSON.stringify(provider), /403/);

      const held = await tegami.request('GET', `/v1/messages/${submitted.body.id}`);
      assert.equal(held.body.status, 'queued', JSON.stringify(held.body));
      assert.equal(held.body.attempts.length, 1);
      assert.equal(held.body.attempts[0].http_status, 403);
      assert.notEqual(held.body.attempts[0].error_class, 'sender_not_verified');
    });
  });
});
