import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  message,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { signIn } from './support/console.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

interface UnsentItem {
  id: string;
  reason: string;
  error_class: string | null;
  provider: string | null;
}

async function unsent(tegami: TestService, query = ''): Promise<UnsentItem[]> {
  const r = await tegami.request('GET', `/v1/unsent?limit=500&${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
}

const reasons = (items: UnsentItem[]) => Object.fromEntries(items.map((i) => [i.id, i.reason]));

/**
 * The unsent view: every message not taken by a provider, or taken and never confirmed, with
 * the reason, through the test provider (failed, retrying, unconfirmed) and the SendGrid
 * simulator (waiting, held, unknown outcome).
 */
describe(`the unsent view (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const ids: Record<string, string> = {};

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_UNCONFIRMED_AFTER_S: '1',
      TEGAMI_UNSENT_AFTER_S: '1',
      // A failed attempt waits ten minutes for the next: it stays "retrying".
      TEGAMI_RETRY_BASE_DELAY_MS: '600000',
      TEGAMI_RETRY_MAX_DELAY_MS: '600000',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    });
    const submit = async (name: string, overrides: Record<string, unknown>) => {
      const r = await tegami.request('POST', '/v1/messages', message(overrides));
      assert.equal(r.status, 202);
      ids[name] = r.body.id;
    };
    await submit('unconfirmed', { to: [{ email: 'silent@example.com' }] });
    await submit('confirmed', { to: [{ email: 'heard@example.com' }] });
    await submit('failed', { to: [{ email: 'permanent@example.com' }], categories: ['booking'] });
    await submit('retrying', { to: [{ email: 'retryable@example.com' }] });
    await submit('scheduled', { send_at: new Date(Date.now() + 3600_000).toISOString() });
    await waitFor(async () => {
      const [c, f, r] = await Promise.all(
        ['confirmed', 'failed', 'retrying'].map((n) =>
          tegami.request('GET', `/v1/messages/${ids[n]}`),
        ),
      );
      return (
        c?.body.status === 'sent' &&
        f?.body.status === 'failed' &&
        r?.body.status === 'queued' &&
        r.body.attempt_count === 1
      );
    }, 'the messages to be tried');
    const events = await fetch(`${tegami.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          event: 'delivered',
          email: 'heard@example.com',
          timestamp: Math.floor(Date.now() / 1000),
          sg_event_id: randomUUID(),
          tegami_message_id: ids.confirmed,
        },
      ]),
    });
    assert.ok(events.status < 300);
    // Past TEGAMI_UNCONFIRMED_AFTER_S for the sent ones.
    await new Promise((r) => setTimeout(r, 1200));
  });
  after(async () => {
    await tegami.stop();
  });

  test('each unsent message once, with its reason; sent-and-confirmed and scheduled mail is not there', async () => {
    const items = await unsent(tegami);
    assert.deepEqual(reasons(items), {
      [ids.unconfirmed as string]: 'unconfirmed',
      [ids.failed as string]: 'failed',
      [ids.retrying as string]: 'retrying',
    });
    const failed = items.find((i) => i.id === ids.failed);
    assert.equal(failed?.error_class, 'http_400');
    assert.equal(failed?.provider, 'test');
    assert.deepEqual(
      items.map((i) => i.id),
      [...items.map((i) => i.id)].sort().reverse(),
      'newest first',
    );
  });

  test('the same filters as the list, plus reason; pages follow the cursor across both parts', async () => {
    assert.deepEqual(Object.keys(reasons(await unsent(tegami, 'reason=failed'))), [ids.failed]);
    assert.deepEqual(Object.keys(reasons(await unsent(tegami, 'reason=unconfirmed'))), [
      ids.unconfirmed,
    ]);
    assert.deepEqual(Object.keys(reasons(await unsent(tegami, 'category=booking'))), [ids.failed]);
    assert.deepEqual(
      await unsent(tegami, 'error_class=http_503&reason=retrying').then((l) => l.length),
      1,
    );
    assert.deepEqual(await unsent(tegami, 'reason=held'), []);
    assert.deepEqual(await unsent(tegami, 'unit=default').then((l) => l.length), 3);
    const seen: string[] = [];
    let cursor = '';
    for (let page = 0; page < 5; page++) {
      const r = await tegami.request('GET', `/v1/unsent?limit=1${cursor}`);
      seen.push(...r.body.data.map((i: UnsentItem) => i.id));
      if (!r.body.next_cursor) break;
      cursor = `&cursor=${r.body.next_cursor}`;
    }
    assert.deepEqual(
      seen,
      (await unsent(tegami)).map((i) => i.id),
    );
    const bad = await tegami.request('GET', '/v1/unsent?reason=lost');
    assert.equal(bad.status, 400);
  });

  test('the summary counts by reason, unit, provider and error class', async () => {
    const r = await tegami.request('GET', '/v1/unsent/summary');
    assert.equal(r.status, 200);
    assert.equal(r.body.total, 3);
    assert.deepEqual(r.body.by_reason, {
      waiting: 0,
      requeued: 0,
      retrying: 1,
      held: 0,
      unknown_outcome: 0,
      failed: 1,
      unconfirmed: 1,
    });
    assert.deepEqual(r.body.by_unit, [{ unit: 'default', count: 3 }]);
    assert.deepEqual(r.body.by_provider, [{ provider: 'test', count: 3 }]);
    assert.deepEqual(
      [...r.body.by_error_class].sort((a, b) =>
        String(a.error_class).localeCompare(String(b.error_class)),
      ),
      [
        { error_class: 'http_400', count: 1 },
        { error_class: 'http_503', count: 1 },
        { error_class: null, count: 1 },
      ],
    );
    assert.equal(r.body.oldest_waiting, null);
    const filtered = await tegami.request('GET', '/v1/unsent/summary?reason=failed');
    assert.equal(filtered.body.total, 1);
  });
});

describe(`the unsent view through SendGrid: waiting, held, unknown outcome; probe now (${TEST_ENGINE})`, () => {
  const SG_KEY = 'SG.unsent-key';
  let setup: SimulatorSetup;
  let tegami: TestService;

  before(async () => {
    setup = await startWithSimulator(SG_KEY, {
      TEGAMI_SENDGRID_TIMEOUT_MS: '300',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
      TEGAMI_UNKNOWN_OUTCOME_WAIT_S: '600',
      TEGAMI_UNSENT_AFTER_S: '1',
      TEGAMI_PROVIDER_FAILURE_THRESHOLD: '2',
      // Without a probe request nothing is tried again during the test.
      TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '600000',
      TEGAMI_PROVIDER_PAUSE_CHECK_MS: '600000',
      TEGAMI_ADMIN_EMAIL: 'admin@example.jp',
      TEGAMI_ADMIN_PASSWORD: 'admin-password-123',
    });
    ({ tegami } = setup);
  });
  after(() => setup?.stop());

  test('a timed-out send waits (unknown_outcome), an outage holds mail (held, waiting), a probe request ends it', async () => {
    const submit = async () => {
      const r = await tegami.request('POST', '/v1/messages', message());
      assert.equal(r.status, 202);
      return r.body.id as string;
    };
    const attempts = async (id: string) =>
      (await tegami.request('GET', `/v1/messages/${id}`)).body.attempt_count as number;

    // Far later than the 300 ms timeout: on a busy machine the timeout's timer can fire late,
    // and an answer that beats it makes the send a success instead of an unknown outcome.
    await setup.control('PUT', '/faults', { lateAnswerMs: 5000 });
    const timedOut = await submit();
    await waitFor(
      async () =>
        (await attempts(timedOut)) === 1 &&
        (await tegami.request('GET', `/v1/messages/${timedOut}`)).body.status === 'queued',
      'the timed-out attempt',
    );

    await setup.control('PUT', '/faults', {});
    await setup.control('POST', '/outage', { mode: '503', durationMs: 600_000 });
    const held = await submit();
    await waitFor(async () => {
      const p = await tegami.request('GET', '/v1/providers');
      return p.body.providers[0].state === 'unavailable';
    }, 'the provider to be unavailable');
    const waiting = await submit();
    await new Promise((r) => setTimeout(r, 1200)); // past TEGAMI_UNSENT_AFTER_S

    const items = await unsent(tegami);
    assert.deepEqual(reasons(items), {
      [timedOut]: 'unknown_outcome',
      [held]: 'held',
      [waiting]: 'waiting',
    });
    assert.equal(items.find((i) => i.id === held)?.error_class, 'http_503');
    const summary = (await tegami.request('GET', '/v1/unsent/summary')).body;
    assert.equal(summary.oldest_waiting.id, waiting);
    assert.ok(summary.oldest_waiting.age_s >= 1);
    assert.equal(summary.by_reason.held, 1);

    // The oldest mail not yet sent is not "waiting" in an outage: it is held, or waits for the
    // outcome of a send. `oldest_waiting` (never tried) leaves it out; `oldest_pending` does not.
    assert.equal(summary.oldest_pending.id, timedOut);
    assert.equal(summary.oldest_pending.reason, 'unknown_outcome');
    assert.ok(summary.oldest_pending.age_s >= summary.oldest_waiting.age_s);
    const heldOnly = (await tegami.request('GET', '/v1/unsent/summary?reason=held')).body;
    assert.equal(heldOnly.oldest_waiting, null);
    assert.equal(heldOnly.oldest_pending.id, held);
    assert.equal(heldOnly.oldest_pending.reason, 'held');
    const failedOnly = (await tegami.request('GET', '/v1/unsent/summary?reason=failed')).body;
    assert.equal(failedOnly.oldest_pending, null, 'dead letters do not go out by themselves');
    // The CLI's summary line says the same.
    const cli = await runTegami(['unsent', '--reason', 'held'], {
      TEGAMI_DATABASE_URL: tegami.databaseUrl,
      TEGAMI_LOG_LEVEL: 'error',
    });
    assert.equal(cli.code, 0, cli.output);
    assert.match(
      cli.output,
      new RegExp(`^Unsent: 1; oldest not sent ${held} \\(held\\), due \\d+s ago$`, 'm'),
    );
    // The console's overview tile and the unsent page show it, and link to the message.
    const admin = await signIn(tegami.url, 'admin@example.jp', 'admin-password-123');
    const overview = (await admin.get('/console')).text;
    const tile = /<a class="tile" id="oldest-pending"[\s\S]*?<\/a>/.exec(overview)?.[0] ?? '';
    assert.match(tile, new RegExp(`href="/console/messages/${timedOut}\\?back=%2Fconsole"`));
    assert.match(tile, /oldest not yet sent <span class="muted">\(unknown outcome\)<\/span>/);
    const heldPage = (await admin.get('/console/unsent?q=reason%3Aheld')).text;
    assert.match(
      heldPage,
      new RegExp(
        `the oldest not yet sent \\(<a href="/console/messages/${held}\\?back=[^"]+">held</a>\\) has been due for <strong id="oldest-pending">\\d+ s</strong>`,
      ),
    );

    // The cause is fixed; probe now instead of in ten minutes.
    await setup.control('DELETE', '/outage');
    const unknown = await tegami.request('POST', '/v1/providers/nowhere/probe');
    assert.equal(unknown.status, 404);
    const probe = await tegami.request('POST', '/v1/providers/sendgrid/probe');
    assert.equal(probe.status, 202, JSON.stringify(probe.body));
    await waitFor(
      async () => {
        const [h, w] = await Promise.all(
          [held, waiting].map((id) => tegami.request('GET', `/v1/messages/${id}`)),
        );
        return h?.body.status === 'sent' && w?.body.status === 'sent';
      },
      'the held and waiting mail sent after the probe',
      20_000,
    );
    // The outage also released the timed-out send from its wait (it was likely the outage's
    // start): it went out with the rest.
    await waitFor(async () => (await unsent(tegami)).length === 0, 'nothing unsent');
    const audit = await tegami.request('GET', '/v1/audit-events?action=provider.probe');
    assert.equal(audit.body.data[0].target, 'sendgrid');
  });
});

describe(`the unsent view without the Event Webhook (${TEST_ENGINE})`, () => {
  test('sent mail is not "unconfirmed" when no delivery event could ever confirm it', async () => {
    const tegami = await startTestService({ TEGAMI_UNCONFIRMED_AFTER_S: '1' });
    try {
      const sent = await tegami.request('POST', '/v1/messages', message());
      await waitFor(
        async () =>
          (await tegami.request('GET', `/v1/messages/${sent.body.id}`)).body.status === 'sent',
        'the message sent',
      );
      await new Promise((r) => setTimeout(r, 1200));
      assert.deepEqual(await unsent(tegami), []);
      assert.equal((await tegami.request('GET', '/v1/unsent/summary')).body.total, 0);
    } finally {
      await tegami.stop();
    }
  });
});

describe(`the oldest mail not yet sent, among scheduled and held mail (${TEST_ENGINE})`, () => {
  test('oldest_pending is due longest, not created first: a scheduled message is due at its send_at', async () => {
    const tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 45; i++) {
        const r = await tegami.request('POST', '/v1/messages', message());
        assert.equal(r.status, 202, JSON.stringify(r.body));
        ids.push(r.body.id as string);
      }
      // Every message held by an outage after one attempt. The first 30 (more than one page of
      // the summary's scan in id order) were scheduled an hour after they were made, so the 31st
      // is due longest although 30 were created before it.
      const db = tegami.service.database.db;
      const created = new Map(
        (await db.selectFrom('messages').select(['id', 'created_at']).execute()).map((r) => [
          r.id,
          Number(r.created_at),
        ]),
      );
      for (const [i, id] of ids.entries()) {
        await db
          .updateTable('messages')
          .set({
            status: 'queued',
            attempt_count: 1,
            last_outcome: 'retryable',
            last_provider_fault: 'unavailable',
            last_error_class: 'http_503',
            send_at: i < 30 ? (created.get(id) as number) + 3_600_000 : null,
            next_attempt_at: Date.now() + 600_000,
          })
          .where('id', '=', id)
          .execute();
      }
      const summary = (await tegami.request('GET', '/v1/unsent/summary')).body;
      assert.equal(summary.by_reason.held, 45);
      assert.equal(summary.oldest_pending.id, ids[30]);
      assert.equal(summary.oldest_pending.reason, 'held');
      assert.equal(
        summary.oldest_pending.due_since,
        new Date(created.get(ids[30] as string) as number).toISOString(),
      );

      // Without scheduled mail the first one created is due longest.
      await db.updateTable('messages').set({ send_at: null }).execute();
      const plain = (await tegami.request('GET', '/v1/unsent/summary')).body;
      assert.equal(plain.oldest_pending.id, ids[0]);
      assert.equal(
        plain.oldest_pending.due_since,
        new Date(created.get(ids[0] as string) as number).toISOString(),
      );
    } finally {
      await tegami.stop();
    }
  });
});

describe(`requeued mail reads as requeued until its next attempt (${TEST_ENGINE})`, () => {
  test('a retry and a recovery requeue dead letters: reason requeued, not retrying with the old error', async () => {
    const tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_ADMIN_EMAIL: 'admin@example.jp',
      TEGAMI_ADMIN_PASSWORD: 'admin-password-123',
    });
    try {
      const ids: string[] = [];
      for (const subject of ['retried', 'recovered one', 'recovered two', 'left']) {
        const r = await tegami.request('POST', '/v1/messages', message({ subject }));
        assert.equal(r.status, 202, JSON.stringify(r.body));
        ids.push(r.body.id as string);
      }
      const [retried, one, two, left] = ids as [string, string, string, string];
      // Each refused once (a 400) and dead-lettered, as a worker leaves such a message.
      const db = tegami.service.database.db;
      await db
        .updateTable('messages')
        .set({
          status: 'failed',
          attempt_count: 1,
          next_attempt_at: null,
          failed_at: Date.now(),
          last_provider: 'test',
          last_outcome: 'permanent',
          last_error_class: 'http_400',
          last_error: 'http_400: bad request',
        })
        .execute();
      // And one other message failed an attempt and waits for the next: really retrying.
      const retrying = (await tegami.request('POST', '/v1/messages', message())).body.id as string;
      await db
        .updateTable('messages')
        .set({
          attempt_count: 1,
          next_attempt_at: Date.now() + 600_000,
          last_provider: 'test',
          last_outcome: 'retryable',
          last_error_class: 'sender_not_verified',
        })
        .where('id', '=', retrying)
        .execute();

      const single = await tegami.request('POST', `/v1/messages/${retried}/retry`);
      assert.equal(single.status, 200, JSON.stringify(single.body));
      const started = await tegami.request('POST', '/v1/recoveries', {
        action: 'retry',
        filter: { status: 'failed', subject: 'recovered' },
        dry_run: false,
      });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      await waitFor(
        async () =>
          (await tegami.request('GET', `/v1/recoveries/${started.body.id}`)).body.state === 'done',
        'the recovery done',
      );

      const items = await unsent(tegami);
      assert.deepEqual(reasons(items), {
        [retried]: 'requeued',
        [one]: 'requeued',
        [two]: 'requeued',
        [left]: 'failed',
        [retrying]: 'retrying',
      });
      // What it failed with stays in view: "requeued after http_400".
      assert.equal(items.find((i) => i.id === one)?.error_class, 'http_400');
      assert.deepEqual(
        Object.keys(reasons(await unsent(tegami, 'reason=requeued'))).sort(),
        [retried, one, two].sort(),
      );
      assert.deepEqual(Object.keys(reasons(await unsent(tegami, 'reason=retrying'))), [retrying]);
      assert.deepEqual(await unsent(tegami, 'reason=held'), []);

      const summary = (await tegami.request('GET', '/v1/unsent/summary')).body;
      assert.deepEqual(summary.by_reason, {
        waiting: 0,
        requeued: 3,
        retrying: 1,
        held: 0,
        unknown_outcome: 0,
        failed: 1,
        unconfirmed: 0,
      });
      // The oldest not yet sent is a requeued one (made first), and says so.
      assert.equal(summary.oldest_pending.id, retried);
      assert.equal(summary.oldest_pending.reason, 'requeued');
      const requeuedOnly = (await tegami.request('GET', '/v1/unsent/summary?reason=requeued')).body;
      assert.equal(requeuedOnly.total, 3);
      assert.deepEqual(requeuedOnly.by_error_class, [{ error_class: 'http_400', count: 3 }]);

      // The CLI and the console say the same.
      const cli = await runTegami(['unsent'], {
        TEGAMI_DATABASE_URL: tegami.databaseUrl,
        TEGAMI_LOG_LEVEL: 'error',
      });
      assert.equal(cli.code, 0, cli.output);
      assert.match(cli.output, /^requeued +3$/m);
      assert.match(cli.output, /^retrying +1$/m);
      assert.match(cli.output, new RegExp(`oldest not sent ${retried} \\(requeued\\)`));
      const admin = await signIn(tegami.url, 'admin@example.jp', 'admin-password-123');
      const page = (await admin.get('/console/unsent?q=reason%3Arequeued')).text;
      assert.match(page, /<td data-label="Reason">requeued<\/td>/);
      assert.match(page, /go out by themselves/);
      const bad = (await admin.get('/console/unsent?q=reason%3Arequeue')).text;
      assert.match(bad, /reason: one of waiting, requeued, retrying/);
    } finally {
      await tegami.stop();
    }
  });
});
