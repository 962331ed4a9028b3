import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, type TestService, waitFor } from './helpers.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * The drill the talk's outage taught: SendGrid fails in every way it can, one way after another,
 * while mail keeps coming. Nothing may be lost, dead-lettered or accepted twice, and once SendGrid
 * is back everything is delivered within seconds without anyone acting.
 */
const SG_KEY = 'SG.drill-key';

interface Attempt {
  http_status: number | null;
  outcome: string;
  provider_fault: string | null;
  detail: string | null;
  network_error: string | null;
  provider_errors: { message: string }[] | null;
}

// Inline, and with SendGrid's calls on a thread of their own (`tegami serve`'s default).
for (const onThread of [false, true])
  describe(`outage drill through the SendGrid simulator${onThread ? ', provider on its own thread' : ''}`, () => {
    let setup: SimulatorSetup;
    let tegami: TestService;

    before(async () => {
      setup = await startWithSimulator(SG_KEY, {
        TEGAMI_SENDGRID_TIMEOUT_MS: '400',
        // A budget this small would dead-letter everything if outage attempts counted.
        TEGAMI_RETRY_MAX_ATTEMPTS: '2',
        TEGAMI_RETRY_BASE_DELAY_MS: '60000',
        TEGAMI_PROVIDER_FAILURE_THRESHOLD: '3',
        TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '200',
        TEGAMI_PROVIDER_PAUSE_CHECK_MS: '300',
        ...(onThread ? { TEGAMI_TEST_PROVIDER_THREAD: '1' } : {}),
      });
      ({ tegami } = setup);
    });
    after(() => setup?.stop());

    async function submit(count: number, tag: string): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = await tegami.request(
          'POST',
          '/v1/messages',
          message({ subject: `${tag} ${i}`, metadata: { tag } }),
        );
        assert.equal(r.status, 202);
        ids.push(r.body.id);
      }
      return ids;
    }

    /** The Tegami ids of every send the simulator accepted, from the bodies it received. */
    async function acceptedIds(): Promise<string[]> {
      const r = await setup.control('GET', '/messages?limit=1000');
      return (
        r.body.messages as {
          body: { personalizations: { custom_args: Record<string, string> }[] };
        }[]
      )
        .map((m) => m.body.personalizations[0]?.custom_args.tegami_message_id ?? '')
        .sort();
    }

    async function allSent(ids: string[], timeoutMs: number) {
      return waitFor(
        async () => {
          const r = await tegami.request('GET', '/v1/messages?status=sent&limit=500');
          const sent = new Set((r.body.data as { id: string }[]).map((m) => m.id));
          return ids.every((id) => sent.has(id));
        },
        'every message sent',
        timeoutMs,
        100,
      );
    }

    test('503s, HTML 502s, resets, timeouts, then 429s: nothing lost, failed or sent twice', async () => {
      const phases = ['503', 'html-502', 'reset', 'hang', '429'];
      const ids: string[] = [];
      const states = new Set<string>();
      for (const mode of phases) {
        const r = await setup.control('POST', '/outage', { mode, durationMs: 1200 });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const phaseEnds = Date.now() + 1200;
        ids.push(...(await submit(8, mode)));
        while (Date.now() < phaseEnds - 50) {
          const providers = await tegami.request('GET', '/v1/providers');
          states.add(providers.body.providers[0].state);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const outageOver = Date.now();
      await setup.control('DELETE', '/outage');

      await allSent(ids, 10_000);
      const recoveredAfterMs = Date.now() - outageOver;
      assert.ok(recoveredAfterMs < 5_000, `all delivered ${recoveredAfterMs} ms after the outage`);
      assert.ok(states.has('unavailable'), `states seen: ${[...states].join(', ')}`);

      const stats = (await setup.control('GET', '/stats')).body;
      assert.equal(stats.accepted, ids.length, 'the simulator accepted each message once');
      assert.equal(stats.duplicates, 0);
      assert.deepEqual(await acceptedIds(), [...ids].sort(), 'each message accepted exactly once');

      const attempts: Attempt[] = [];
      for (const id of ids) {
        const m = await tegami.request('GET', `/v1/messages/${id}`);
        assert.equal(m.body.status, 'sent');
        attempts.push(...(m.body.attempts as Attempt[]));
      }
      const failedAttempts = attempts.filter((a) => a.outcome !== 'accepted');
      assert.ok(
        failedAttempts.every((a) => a.provider_fault !== null),
        'every failure was the provider',
      );
      const saw = (predicate: (a: Attempt) => boolean, what: string) =>
        assert.ok(failedAttempts.some(predicate), `an attempt shows ${what}`);
      saw(
        (a) => a.http_status === 503 && (a.provider_errors?.length ?? 0) > 0,
        '503 with errors[]',
      );
      saw((a) => a.http_status === 502 && /502 Bad Gateway/.test(a.detail ?? ''), 'the HTML 502');
      saw((a) => a.network_error !== null && a.outcome === 'retryable', 'a reset connection');
      saw((a) => a.outcome === 'unknown', 'a timeout after sending (outcome unknown)');
      saw((a) => a.http_status === 429 && a.provider_fault === 'rate_limited', 'a 429');

      const providers = await tegami.request('GET', '/v1/providers');
      assert.equal(providers.body.providers[0].state, 'healthy');
      const classes = (providers.body.providers[0].recent_errors as { error_class: string }[]).map(
        (e) => e.error_class,
      );
      for (const errorClass of ['http_503', 'http_502', 'http_429']) {
        assert.ok(classes.includes(errorClass), `recent errors list ${errorClass}: ${classes}`);
      }
    });

    test('a revoked key pauses the queue instead of dead-lettering it', async () => {
      await setup.control('POST', '/reset');
      await setup.control('PUT', '/api-key', { apiKey: 'SG.another-key' });
      const ids = await submit(10, 'revoked');
      const paused = await waitFor(async () => {
        const r = await tegami.request('GET', '/v1/providers');
        return r.body.providers[0].state === 'paused' ? r.body.providers[0] : null;
      }, 'provider paused');
      assert.match(paused.reason, /http_401/);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const failed = await tegami.request('GET', '/v1/messages?status=failed&limit=500');
      assert.deepEqual(
        (failed.body.data as { id: string }[]).filter((m) => ids.includes(m.id)),
        [],
        'nothing dead-lettered while paused',
      );
      await setup.control('PUT', '/api-key', { apiKey: SG_KEY });
      await allSent(ids, 5_000);
      assert.equal((await setup.control('GET', '/stats')).body.duplicates, 0);
      assert.deepEqual(await acceptedIds(), [...ids].sort(), 'each message accepted exactly once');
    });
  });
