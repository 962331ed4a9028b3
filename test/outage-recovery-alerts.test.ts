import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';

/**
 * A short outage, seen by the on-call person after it: a batch of bookings was refused (400) and
 * dead-lettered; the fix is deployed and the bookings are recovered while SendGrid hangs. Their
 * sends time out, wait for a delivery event that does not come, and go out once SendGrid answers
 * again. Right after the recovery the unsent view says they were requeued (not `retrying` with
 * the old 400, which reads as if the fix failed), and once they are sent no provider alert
 * fires: the re-sends bring the attempts up to the error rate's minimum, but the failures are
 * over and half of them were the 400s, which are the messages' fault, not SendGrid's. A provider
 * that keeps failing still pages. Times scaled down to seconds.
 */
const SG_KEY = 'SG.outage-recovery';
const GOOD = 7;
const BOOKINGS = 5;

describe(`alerts and the unsent view after a recovery during an outage (${TEST_ENGINE})`, () => {
  let setup: SignedEventsSetup;
  let tegami: TestService;

  before(async () => {
    setup = await startWithSignedEvents({
      apiKey: SG_KEY,
      env: {
        // Long enough to look at the recovered mail while its sends hang.
        TEGAMI_SENDGRID_TIMEOUT_MS: '2000',
        // A timed-out send waits this long for SendGrid's event before it goes again.
        TEGAMI_UNKNOWN_OUTCOME_WAIT_S: '3',
        // The circuit stays closed: a handful of timeouts is no outage to it, and a flaky
        // provider below must page through the error rate, not through `unavailable`.
        TEGAMI_PROVIDER_FAILURE_THRESHOLD: '50',
        TEGAMI_ALERT_INTERVAL_MS: '200',
        TEGAMI_ALERT_FOR_S: '1',
      },
    });
    ({ tegami } = setup);
  });
  after(() => setup?.stop());

  async function submit(count: number, category: string): Promise<string[]> {
    const messages = Array.from({ length: count }, (_, i) =>
      message({ subject: `${category} ${i}`, categories: [category] }),
    );
    const r = await tegami.request('POST', '/v1/messages/batch', { messages });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.results.map((x: { id: string }) => x.id);
  }
  const statuses = (ids: string[]) =>
    Promise.all(
      ids.map(async (id) => (await tegami.request('GET', `/v1/messages/${id}`)).body.status),
    );
  const allIn = (ids: string[], status: string) => async () =>
    (await statuses(ids)).every((s) => s === status);
  const providerAlerts = async () =>
    (await tegami.request('GET', '/v1/alerts?rule=provider_failing')).body.data as {
      state: string;
      severity: string;
      summary: string;
    }[];

  test('the recovered mail reads as requeued, and no provider alert fires once it is sent', async () => {
    const good = await submit(GOOD, 'receipt');
    await waitFor(allIn(good, 'sent'), 'the receipts sent');
    await setup.control('PUT', '/faults', { rejectCategories: ['booking'] });
    const bookings = await submit(BOOKINGS, 'booking');
    await waitFor(allIn(bookings, 'failed'), 'the bookings refused and dead-lettered');

    // The fix is deployed; SendGrid hangs as the operator recovers the bookings.
    await setup.control('PUT', '/faults', {});
    const hang = await setup.control('POST', '/outage', { mode: 'hang', durationMs: 4_000 });
    assert.equal(hang.status, 200, JSON.stringify(hang.body));
    const started = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed', category: 'booking', error_class: 'http_400' },
      dry_run: false,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/recoveries/${started.body.id}`);
      return r.body.state === 'done';
    }, 'the recovery done');
    // Requeued by the operator and being sent: it says so, with what it failed with before.
    const requeued = (await tegami.request('GET', '/v1/unsent?reason=requeued')).body.data as {
      id: string;
      error_class: string;
    }[];
    assert.deepEqual(requeued.map((m) => m.id).sort(), [...bookings].sort());
    assert.ok(requeued.every((m) => m.error_class === 'http_400'));
    const summary = (await tegami.request('GET', '/v1/unsent/summary')).body;
    assert.equal(summary.by_reason.requeued, BOOKINGS);
    assert.equal(summary.by_reason.retrying, 0);
    // Once their sends time out: waiting for SendGrid's event (the provider may have them).
    await waitFor(
      async () =>
        (await tegami.request('GET', '/v1/unsent/summary')).body.by_reason.unknown_outcome ===
        BOOKINGS,
      'the timed-out sends waiting for proof',
    );

    await waitFor(allIn(bookings, 'sent'), 'the bookings sent after the outage', 30_000);
    const sent = (await tegami.request('GET', `/v1/messages/${bookings[0]}`)).body;
    assert.deepEqual(
      sent.attempts.map((a: { outcome: string }) => a.outcome),
      ['permanent', 'unknown', 'accepted'],
    );
    // Every attempt is in the workers' counters: 22, of which the 400s and the timeouts failed,
    // and only the timeouts on the provider's side.
    const counters = await waitFor(async () => {
      const [sendgrid] = (await tegami.request('GET', '/v1/providers')).body.providers;
      return sendgrid.accepted === GOOD + BOOKINGS && sendgrid.failed === 2 * BOOKINGS
        ? sendgrid
        : null;
    }, 'the workers to report every attempt');
    assert.equal(counters.provider_failed, BOOKINGS);
    // Several evaluation rounds and TEGAMI_ALERT_FOR_S over: nothing fired, nothing is firing.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.deepEqual(await providerAlerts(), []);
  });

  test('a provider that keeps failing still pages, counting its own failures', async () => {
    await setup.control('PUT', '/faults', { errorRates: { '503': 0.5 } });
    const flaky = await submit(30, 'flaky');
    const alert = await waitFor(
      async () => (await providerAlerts()).find((a) => a.state === 'firing'),
      'the error-rate alert',
      30_000,
    );
    assert.equal(alert.severity, 'warning');
    assert.match(alert.summary, /^provider sendgrid failed \d+ of \d+ attempts \(\d+%\)/);
    await setup.control('PUT', '/faults', {});
    await waitFor(allIn(flaky, 'sent'), 'the flaky batch sent in the end', 30_000);
  });
});
