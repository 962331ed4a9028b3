import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProviderCircuit } from '../src/domain/provider-circuit.ts';
import { DEFAULT_RETRY_POLICY, decideAfterAttempt } from '../src/domain/retry-policy.ts';
import { MAX_REQUESTED_WAIT_MS, type SendResult } from '../src/domain/types.ts';
import { classifyAnswer } from '../src/providers/sendgrid/classify-response.ts';
import { message, type TestService, waitFor } from './helpers.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

const HOUR = 3_600_000;
const now = Date.UTC(2026, 11, 4, 12);

describe('a provider asking to wait absurdly long', () => {
  test('Retry-After and X-RateLimit-Reset count for an hour at most', () => {
    const waits = [
      { 'retry-after': '100000000000000000000' },
      { 'retry-after': '9'.repeat(400) }, // Infinity once parsed
      { 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' },
      { 'x-ratelimit-reset': '1e300' },
    ].map((headers) => classifyAnswer({ status: 429, headers, body: '' }, now).retryAfterMs);
    assert.deepEqual(waits, [HOUR, HOUR, HOUR, HOUR]);
    assert.equal(MAX_REQUESTED_WAIT_MS, HOUR);
    const inThePast = classifyAnswer(
      { status: 429, headers: { 'x-ratelimit-reset': String(now / 1000 - 60) }, body: '' },
      now,
    );
    assert.equal(inThePast.retryAfterMs, 0);
  });

  test('the circuit and the retry policy bound a wait no adapter bounded', () => {
    const limited: SendResult = {
      outcome: 'retryable',
      providerFault: 'rate_limited',
      retryAfterMs: Number.POSITIVE_INFINITY,
    };
    const circuit = new ProviderCircuit(
      {
        failureThreshold: 1,
        probeIntervalMs: 1_000,
        pauseCheckMs: 5_000,
        defaultThrottleMs: 1_000,
      },
      now,
    );
    assert.equal(circuit.record(limited, now, false)?.to, 'throttled');
    assert.deepEqual(circuit.gate(now + 1), { kind: 'hold', untilMs: now + HOUR });

    const retry = decideAfterAttempt(DEFAULT_RETRY_POLICY, 1, limited, now, () => 0.5);
    assert.equal(retry.kind, 'retry');
    assert.ok(retry.kind === 'retry' && retry.at === now + HOUR, JSON.stringify(retry));
    const budgeted = decideAfterAttempt(
      DEFAULT_RETRY_POLICY,
      1,
      { outcome: 'retryable', errorClass: 'http_500', retryAfterMs: 1e300 },
      now,
      () => 0.5,
    );
    assert.ok(budgeted.kind === 'retry' && budgeted.at <= now + HOUR, JSON.stringify(budgeted));
  });

  describe('through the SendGrid simulator (Retry-After: 1e20 s)', () => {
    let setup: SimulatorSetup;
    let tegami: TestService;
    before(async () => {
      setup = await startWithSimulator(
        'SG.absurd',
        {},
        { simulator: { faults: { errorRates: { '429': 1 }, retryAfterSeconds: 1e20 } } },
      );
      ({ tegami } = setup);
    });
    after(() => setup?.stop());

    test('the service keeps running; the message and the provider wait an hour at most', async () => {
      const accepted = await tegami.request('POST', '/v1/messages', message());
      assert.equal(accepted.status, 202);
      const tried = await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/messages/${accepted.body.id}`);
        return r.body.attempts?.length > 0 ? r.body : null;
      }, 'the first attempt');
      assert.equal(tried.attempts[0].http_status, 429);
      assert.equal(tried.status, 'queued');
      const next = Date.parse(tried.next_attempt_at);
      assert.ok(next <= Date.now() + HOUR, tried.next_attempt_at);

      const providers = await tegami.request('GET', '/v1/providers');
      assert.equal(providers.status, 200);
      const nextCheck = Date.parse(providers.body.providers[0].next_check_at);
      assert.ok(nextCheck <= Date.now() + HOUR, JSON.stringify(providers.body));
      assert.equal((await tegami.request('GET', '/readyz')).status, 200);
    });

    test('the simulator refuses a latency no timer can hold (it would answer at once)', async () => {
      for (const latencyMs of [1e12, { min: 0, max: 1e308 }]) {
        const refused = await setup.control('PUT', '/faults', { latencyMs });
        assert.equal(refused.status, 400);
        assert.match(JSON.stringify(refused.body), /at most 2147483647 ms/);
      }
    });
  });
});
