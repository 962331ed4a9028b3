import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { simulatorAcceptedIds } from './support/cluster.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * The drill of the talk's worst hour: SendGrid rejects one kind of mail with a 400 (a payload bug
 * that only shows in production), so that mail dead-letters. After the fix, a dry run reports
 * exactly those messages, the recovery sends each exactly once, an identical second recovery
 * sends nothing, and the audit log shows both.
 */
const SG_KEY = 'SG.recovery-drill';
const BOOKINGS = 30;

describe(`bulk recovery drill through the SendGrid simulator (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let tegami: TestService;

  before(async () => {
    setup = await startWithSimulator(SG_KEY);
    ({ tegami } = setup);
  });
  after(() => setup?.stop());

  async function submit(count: number, category: string): Promise<string[]> {
    const messages = Array.from({ length: count }, (_, i) =>
      message({
        to: [{ email: `guest-${category}-${i}@example.jp` }],
        subject: `${category} ${i}`,
        categories: [category],
      }),
    );
    const r = await tegami.request('POST', '/v1/messages/batch', { messages });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.results.map((x: { id: string }) => x.id);
  }

  async function statuses(ids: string[]): Promise<string[]> {
    return Promise.all(
      ids.map(async (id) => (await tegami.request('GET', `/v1/messages/${id}`)).body.status),
    );
  }

  async function recoveryDone(id: string) {
    return waitFor(async () => {
      const r = await tegami.request('GET', `/v1/recoveries/${id}`);
      return r.body.state === 'running' ? null : r.body;
    }, `recovery ${id} to finish`);
  }

  test('a payload bug dead-letters one category; the recovery sends each exactly once, a second one nothing', async () => {
    // The simulator's answer to the bug is SendGrid's own 400.
    await setup.control('PUT', '/faults', { rejectCategories: ['booking'] });
    const bookings = await submit(BOOKINGS, 'booking');
    const news = await submit(10, 'newsletter');
    await waitFor(
      async () =>
        (await statuses([...bookings, ...news])).every((s) => s === 'sent' || s === 'failed'),
      'every message tried',
    );
    assert.deepEqual(
      await statuses(bookings),
      bookings.map(() => 'failed'),
    );
    assert.deepEqual(
      await statuses(news),
      news.map(() => 'sent'),
    );
    const failed = (await tegami.request('GET', `/v1/messages/${bookings[0]}`)).body;
    assert.equal(failed.attempts[0].http_status, 400);
    assert.equal(
      failed.attempts[0].provider_errors[0].message,
      'The content value must be a string at least one character in length.',
    );

    // The fix is deployed: the simulator accepts bookings again (and now rejects another kind,
    // whose failures must not be swept into the recovery).
    await setup.control('PUT', '/faults', { rejectCategories: ['late'] });
    const filter = { status: 'failed', category: 'booking', error_class: 'http_400' };
    const dry = await tegami.request('POST', '/v1/recoveries', { action: 'retry', filter });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.dry_run, true);
    assert.equal(dry.body.matched, BOOKINGS);
    assert.equal(dry.body.actionable, BOOKINGS);
    assert.deepEqual(dry.body.by_error_class, [{ error_class: 'http_400', count: BOOKINGS }]);
    assert.deepEqual(dry.body.by_unit, [{ unit: 'default', count: BOOKINGS }]);
    assert.equal(dry.body.sample.length, 20);
    assert.ok(dry.body.sample.every((m: { id: string }) => bookings.includes(m.id)));
    assert.deepEqual(
      await statuses(bookings),
      bookings.map(() => 'failed'),
      'a dry run changes nothing',
    );

    const started = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter,
      dry_run: false,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    assert.match(started.body.id, /^rec_/);
    assert.equal(started.body.matched, BOOKINGS);
    assert.deepEqual(started.body.started_by, {
      type: 'key',
      id: started.body.started_by.id,
      name: 'bootstrap (TEGAMI_BOOTSTRAP_API_KEY)',
    });
    // Fails after the start: not in the set.
    const late = await submit(3, 'late');
    const first = await recoveryDone(started.body.id);
    assert.equal(first.state, 'done');
    assert.equal(first.done, BOOKINGS);
    assert.equal(first.skipped, 0);
    assert.equal(first.pending, 0);
    await waitFor(
      async () => (await statuses(bookings)).every((s) => s === 'sent'),
      'every booking sent',
    );
    await waitFor(
      async () => (await statuses(late)).every((s) => s === 'failed'),
      'the late ones failed',
    );

    const retried = (await tegami.request('GET', `/v1/messages/${bookings[0]}`)).body;
    assert.deepEqual(
      retried.attempts.map((a: { number: number; outcome: string }) => [a.number, a.outcome]),
      [
        [1, 'permanent'],
        [2, 'accepted'],
      ],
      'attempt numbers keep counting',
    );

    // The same recovery again: nothing matches any more; and over the whole category, every
    // message is skipped as already sent. Nothing is sent a second time.
    const again = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter,
      dry_run: false,
    });
    assert.equal(again.status, 202);
    assert.equal(again.body.matched, 0);
    assert.equal((await recoveryDone(again.body.id)).done, 0);
    const wide = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { category: 'booking' },
      dry_run: false,
    });
    const wideDone = await recoveryDone(wide.body.id);
    assert.equal(wideDone.matched, BOOKINGS);
    assert.equal(wideDone.done, 0);
    assert.deepEqual(wideDone.skipped_reasons, { already_sent: BOOKINGS });

    const accepted = await simulatorAcceptedIds(setup.simulator.url);
    for (const id of bookings) assert.equal(accepted.get(id), 1, `${id} accepted once`);
    assert.equal((await setup.control('GET', '/stats')).body.duplicates, 0);
    assert.deepEqual(
      await statuses(late),
      late.map(() => 'failed'),
      'later failures untouched',
    );

    // The audit log shows both recoveries, who started them, the filter and the counts.
    const audit = await tegami.request('GET', '/v1/audit-events?limit=50');
    const events = audit.body.data as {
      action: string;
      target: string;
      filter: Record<string, unknown> | null;
      counts: Record<string, number> | null;
      actor: { type: string };
    }[];
    const of = (id: string, action: string) =>
      events.find((e) => e.target === id && e.action === action);
    assert.deepEqual(of(started.body.id, 'recovery.start')?.filter, filter);
    assert.deepEqual(of(started.body.id, 'recovery.start')?.counts, {
      matched: BOOKINGS,
      in_other_recovery: 0,
    });
    assert.equal(of(started.body.id, 'recovery.finish')?.counts?.done, BOOKINGS);
    assert.equal(of(again.body.id, 'recovery.start')?.counts?.matched, 0);
    assert.ok(of(again.body.id, 'recovery.finish'));
    assert.equal(of(wide.body.id, 'recovery.finish')?.counts?.already_sent, BOOKINGS);
    // The recoveries were started with the API key (the start's own key.create is Tegami's).
    assert.ok(
      events.filter((e) => e.action.startsWith('recovery.')).every((e) => e.actor.type === 'key'),
    );
    const listed = await tegami.request('GET', '/v1/recoveries');
    assert.deepEqual(
      listed.body.data.map((r: { id: string }) => r.id),
      [wide.body.id, again.body.id, started.body.id],
    );
  });
});

describe(`recoveries: pace, cancel, one recovery per message, bad requests (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let failed: string[] = [];

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      // One failure dead-letters; a retry sends (retryable-1: fails attempt 1 only).
      TEGAMI_RETRY_MAX_ATTEMPTS: '1',
    });
    const messages = Array.from({ length: 12 }, (_, i) =>
      message({ to: [{ email: `retryable-1+${i}@example.com` }], categories: ['pace'] }),
    );
    const r = await tegami.request('POST', '/v1/messages/batch', { messages });
    failed = r.body.results.map((x: { id: string }) => x.id);
    await waitFor(async () => {
      const l = await tegami.request('GET', '/v1/messages?status=failed&category=pace&count=true');
      return l.body.total === failed.length;
    }, 'every message failed');
  });
  after(async () => {
    await tegami.stop();
  });

  test('a paced recovery can be cancelled between chunks; another recovery skips what it holds', async () => {
    const slow = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { category: 'pace' },
      dry_run: false,
      rate_per_s: 2,
    });
    assert.equal(slow.status, 202);
    assert.equal(slow.body.rate_per_s, 2);
    const other = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
      dry_run: false,
    });
    assert.equal(other.status, 202);
    assert.ok(
      other.body.skipped_reasons.in_other_recovery >= failed.length - 2,
      JSON.stringify(other.body),
    );
    const dry = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { category: 'pace' },
    });
    assert.ok(dry.body.in_other_recovery > 0);

    await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/recoveries/${slow.body.id}`);
      return r.body.done >= 2;
    }, 'the first chunks');
    const cancelled = await tegami.request('POST', `/v1/recoveries/${slow.body.id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.state, 'cancelled');
    assert.ok(cancelled.body.done < failed.length, 'stopped before the end');
    assert.equal(cancelled.body.done + cancelled.body.skipped, cancelled.body.matched);
    assert.equal(cancelled.body.pending, 0);
    await new Promise((r) => setTimeout(r, 1500));
    const later = await tegami.request('GET', `/v1/recoveries/${slow.body.id}`);
    assert.equal(later.body.done, cancelled.body.done, 'nothing more after the cancel');
    const twice = await tegami.request('POST', `/v1/recoveries/${slow.body.id}/cancel`);
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'invalid_state');

    // What the cancelled recovery left is free for a new one.
    const rest = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { category: 'pace', status: 'failed' },
      dry_run: false,
    });
    assert.equal(rest.body.matched, failed.length - cancelled.body.done);
    assert.equal(rest.body.skipped, 0);
    await waitFor(async () => {
      const l = await tegami.request('GET', '/v1/messages?status=sent&category=pace&count=true');
      return l.body.total === failed.length;
    }, 'every message sent');
    const audit = await tegami.request('GET', `/v1/audit-events?action=recovery.cancel`);
    assert.equal(audit.body.data[0].target, slow.body.id);
  });

  test('cancel: queued and scheduled messages only', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const r = await tegami.request('POST', '/v1/messages/batch', {
      messages: [
        message({ send_at: later, categories: ['cancel-me'] }),
        message({ send_at: later, categories: ['cancel-me'] }),
      ],
    });
    const ids = r.body.results.map((x: { id: string }) => x.id);
    const started = await tegami.request('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { category: 'cancel-me' },
      dry_run: false,
    });
    await waitFor(async () => {
      const rec = await tegami.request('GET', `/v1/recoveries/${started.body.id}`);
      return rec.body.state === 'done';
    }, 'the cancel recovery');
    for (const id of ids) {
      assert.equal((await tegami.request('GET', `/v1/messages/${id}`)).body.status, 'cancelled');
    }
  });

  test('the API answers between the chunks of a recovery of thousands', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const total = 16_000;
    for (let i = 0; i < total; i += 1000) {
      const r = await tegami.request('POST', '/v1/messages/batch', {
        messages: Array.from({ length: 1000 }, () =>
          message({ send_at: later, categories: ['many'] }),
        ),
      });
      assert.equal(r.status, 202);
    }
    const started = await tegami.request('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { category: 'many' },
      dry_run: false,
    });
    assert.equal(started.status, 202);
    assert.equal(started.body.matched, total);
    // Chunks of 1,000, 2,000, 4,000 … one after another. On SQLite each runs without the event
    // loop turning; unless the runner gives it a turn between them, no request is answered
    // until the last one is done.
    const seen: number[] = [];
    for (;;) {
      const r = await tegami.request('GET', `/v1/recoveries/${started.body.id}`);
      seen.push(r.body.done);
      if (r.body.state === 'done') break;
    }
    assert.equal(seen[seen.length - 1], total);
    assert.ok(
      seen.some((done) => done > 0 && done < total),
      `progress seen between chunks: ${seen.join(', ')}`,
    );
  });

  test('bad recoveries are a 400 and start nothing', async () => {
    const before = (await tegami.request('GET', '/v1/recoveries?limit=200')).body.data.length;
    for (const body of [
      { action: 'retry', filter: {}, dry_run: false },
      { action: 'resend', filter: { status: 'failed' } },
      { action: 'retry', filter: { status: 'failed' }, rate_per_s: 0 },
      { action: 'retry', filter: { colour: 'red' } },
      { action: 'retry', filter: { failed_after: 'yesterday' }, dry_run: false },
      { action: 'retry', filter: { reason: 'lost' } },
      { action: 'retry', filter: { unit: 'nowhere' }, dry_run: false },
      // A key with a line break is a key like any other: its value's limit holds.
      { action: 'retry', filter: { metadata: { 'a\nb': 'v'.repeat(1_001) } }, dry_run: false },
      { action: 'retry', filter: { metadata: { ['k'.repeat(257)]: 'v' } }, dry_run: false },
    ]) {
      const r = await tegami.request('POST', '/v1/recoveries', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    const missing = await tegami.request('GET', '/v1/recoveries/rec_01ARZ3NDEKTSV4RRFFQ69G5FAV');
    assert.equal(missing.status, 404);
    assert.equal(
      (await tegami.request('GET', '/v1/recoveries?limit=200')).body.data.length,
      before,
    );
  });
});
