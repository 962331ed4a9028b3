import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Actor } from '../src/domain/operations/scope.ts';
import {
  createEndpointByHand,
  deleteEndpointByHand,
} from '../src/domain/webhook-endpoints-by-hand.ts';
import {
  type DatabaseHandle,
  enqueueWebhookEvents,
  migrateToLatest,
  openDatabase,
  SqlWebhookStore,
  shareSlots,
} from '../src/store/index.ts';
import { GuardedPoster } from '../src/tracking/guarded-post.ts';
import {
  message,
  request,
  spawnTegami,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import {
  type Behaviour,
  type HostileReceiver,
  processMemoryMiB,
  startHostileReceiver,
} from './support/hostile-receiver.ts';

const TIMEOUT_MS = 3_000;
/** How much later than its deadline an attempt may end on a slow, shared machine. */
const SLACK_MS = 2_000;
/** How soon a healthy endpoint's webhook must arrive while hostile receivers hold theirs. */
const HEALTHY_WITHIN_MS = 2_000;

const healthy: Behaviour = {
  kind: 'answer',
  status: 200,
  delayMs: 0,
  body: { type: 'text', text: 'ok' },
};

async function register(tegami: TestService, url: string, events = ['message.sent']) {
  const r = await tegami.request('POST', '/v1/webhook-endpoints', { url, events });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
}

async function deliveries(tegami: TestService, endpointId: string) {
  const r = await tegami.request('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`);
  assert.equal(r.status, 200);
  return r.body.data as {
    status: string;
    attempts: number;
    last_status: number | null;
    last_error: string | null;
  }[];
}

/** Submits a message and returns its id and when it was accepted. */
async function send(tegami: TestService) {
  const r = await tegami.request('POST', '/v1/messages', message());
  assert.equal(r.status, 202);
  return { id: r.body.id as string, at: Date.now() };
}

describe(`status webhooks against hostile receivers (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const receivers: HostileReceiver[] = [];
  const endpointIds: string[] = [];

  before(async () => {
    tegami = await startTestService({
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
      TEGAMI_WEBHOOKS_TIMEOUT_MS: String(TIMEOUT_MS),
      TEGAMI_WEBHOOKS_CONCURRENCY: '16',
      TEGAMI_WEBHOOKS_MAX_PER_ENDPOINT: '2',
      // Failed attempts are not tried again during these tests.
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '600000',
    });
  });
  after(async () => {
    for (const id of endpointIds) await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
    for (const r of receivers) await r.close();
    await tegami.stop();
  });

  async function receiver(behave: (i: number) => Behaviour) {
    const r = await startHostileReceiver(behave);
    receivers.push(r);
    return r;
  }

  test('trickling, silent and huge replies neither stall a healthy endpoint nor outlive the deadline', async (t) => {
    // Each would hold an attempt for a minute without a whole-attempt deadline.
    const trickle = await receiver(() => ({
      kind: 'answer',
      status: 503,
      delayMs: 0,
      body: { type: 'trickle', everyMs: 400, forMs: 60_000 },
    }));
    const silent = await receiver(() => ({ kind: 'hang' }));
    const huge = await receiver(() => ({
      kind: 'answer',
      status: 500,
      delayMs: 0,
      body: { type: 'huge', bytes: 200 * 1024 * 1024, chunked: false },
    }));
    const good = await receiver(() => healthy);
    const ids = {
      trickle: await register(tegami, trickle.url),
      silent: await register(tegami, silent.url),
      huge: await register(tegami, huge.url),
      good: await register(tegami, good.url),
    };
    endpointIds.push(...Object.values(ids));

    await send(tegami);
    await waitFor(
      async () => trickle.open > 0 && silent.open > 0 && good.attempts.length > 0,
      'the hostile receivers hold their first attempts',
    );
    // While they hold them, the next webhook to the healthy endpoint goes out at once.
    const second = await send(tegami);
    const arrived = await waitFor(
      async () => good.attempts.find((a) => a.body.includes(second.id)),
      "the healthy endpoint's second webhook",
      TIMEOUT_MS * 10,
    );
    const delay = arrived.arrivedAt - second.at;
    t.diagnostic(`healthy endpoint's webhook arrived ${delay} ms after the message was accepted`);
    assert.ok(delay < HEALTHY_WITHIN_MS, `arrived after ${delay} ms`);
    assert.ok(
      trickle.open > 0 || silent.open > 0,
      'the hostile attempts were still open when it arrived',
    );

    // Every hostile attempt ends by its deadline, whatever the receiver does.
    await waitFor(
      async () => [trickle, silent, huge].every((r) => r.attempts.length === 2 && r.open === 0),
      'both hostile attempts of each receiver to end',
      TIMEOUT_MS * 4 + SLACK_MS,
    );
    for (const r of [trickle, silent, huge]) {
      for (const a of r.attempts) {
        const took = (a.endedAt ?? Number.POSITIVE_INFINITY) - a.arrivedAt;
        assert.ok(took <= TIMEOUT_MS + SLACK_MS, `${a.behaviour.kind} attempt took ${took} ms`);
      }
    }
    t.diagnostic(
      `huge reply: attempts ended after ${huge.attempts.map((a) => (a.endedAt ?? 0) - a.arrivedAt).join(', ')} ms`,
    );

    const logs = await waitFor(async () => {
      const all = await Promise.all(
        [ids.trickle, ids.silent, ids.huge].map((id) => deliveries(tegami, id)),
      );
      return all.every((log) => log.length === 2 && log.every((d) => d.attempts === 1))
        ? all
        : null;
    }, 'the attempts recorded');
    const [trickleLog = [], silentLog = [], hugeLog = []] = logs;
    for (const d of trickleLog) {
      assert.equal(d.status, 'pending');
      assert.equal(d.last_status, 503);
      assert.equal(d.last_error, `timed out: no complete answer within ${TIMEOUT_MS} ms`);
    }
    for (const d of silentLog) {
      assert.equal(d.last_status, null);
      assert.equal(d.last_error, `timed out: no complete answer within ${TIMEOUT_MS} ms`);
    }
    for (const d of hugeLog) {
      assert.equal(d.last_status, 500);
      assert.equal(d.last_error, `HTTP 500: ${'x'.repeat(200)}`);
    }
    const goodLog = await deliveries(tegami, ids.good);
    assert.deepEqual(
      goodLog.map((d) => d.status),
      ['delivered', 'delivered'],
    );
  });

  test("an endpoint's backlog and slow answers take only its own slots", async (t) => {
    const slow = await receiver(() => ({
      kind: 'answer',
      status: 200,
      delayMs: 300,
      body: { type: 'text', text: 'ok' },
    }));
    const slowId = await register(tegami, slow.url);
    endpointIds.push(slowId);
    const batch = await tegami.request('POST', '/v1/messages/batch', {
      messages: Array.from({ length: 40 }, () => message()),
    });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    await waitFor(async () => slow.attempts.length > 0, 'the backlog starts');

    const good = await receiver(() => healthy);
    const goodId = await register(tegami, good.url);
    endpointIds.push(goodId);
    const sent = await send(tegami);
    const arrived = await waitFor(
      async () => good.attempts.find((a) => a.body.includes(sent.id)),
      "the other endpoint's webhook",
    );
    const delay = arrived.arrivedAt - sent.at;
    t.diagnostic(
      `other endpoint's webhook after ${delay} ms; the slow endpoint had received ${slow.attempts.length} of its 41`,
    );
    assert.ok(delay < HEALTHY_WITHIN_MS, `arrived after ${delay} ms`);
    assert.ok(slow.attempts.length < 41, 'it did not wait for the backlog to drain');
    await waitFor(async () => slow.attempts.length === 41, 'the backlog drains', 60_000);
    assert.ok(slow.maxOpen <= 2, `at most 2 at once to one endpoint (saw ${slow.maxOpen})`);
    assert.ok(slow.maxOpen === 2, 'and it does use both');
  });
});

describe('one post ends by its own deadline, never before it', () => {
  // undici's headers timeout runs on timers that tick every ~499 ms. Given this deadline as its
  // timeout, it fires 998 ms plus the time to its next tick after the request went out: between
  // ~1 s and the deadline, depending on the tick's phase. Posts started 32 ms apart take every
  // phase (the ticks go on while any post is open), so some of them would see that timeout
  // before an answer that comes at 1150 ms, whatever the phase of the first.
  const DEADLINE_MS = 1_488;
  const ANSWER_AFTER_MS = 1_150;
  const POSTS = 16;
  const APART_MS = 32;

  test('an answer within the deadline is taken; a silent receiver times out at the deadline', async (t) => {
    const answering = await startHostileReceiver(() => ({
      kind: 'answer',
      status: 200,
      delayMs: ANSWER_AFTER_MS,
      body: { type: 'text', text: 'ok' },
    }));
    const silent = await startHostileReceiver(() => ({ kind: 'hang' }));
    const poster = new GuardedPoster({ allowPrivate: true, timeoutMs: DEADLINE_MS });
    t.after(async () => {
      await poster.close();
      await answering.close();
      await silent.close();
    });

    const timed = async (url: string) => {
      const started = Date.now();
      const result = await poster.post(url, {}, '{}');
      return { ...result, took: Date.now() - started };
    };
    const posts: ReturnType<typeof timed>[] = [];
    const silentPosts: ReturnType<typeof timed>[] = [];
    for (let i = 0; i < POSTS; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, APART_MS));
      posts.push(timed(answering.url));
      silentPosts.push(timed(silent.url));
    }
    const answered = await Promise.all(posts);
    const timedOut = await Promise.all(silentPosts);
    t.diagnostic(`answered after ${answered.map((r) => r.took).join(', ')} ms`);
    t.diagnostic(`silent ones ended after ${timedOut.map((r) => r.took).join(', ')} ms`);

    assert.deepEqual(
      answered.filter((r) => r.error !== null).map((r) => `${r.error} after ${r.took} ms`),
      [],
      'every answer came within the deadline',
    );
    assert.ok(answered.every((r) => r.httpStatus === 200));
    for (const r of timedOut) {
      assert.equal(r.error, `timed out: no complete answer within ${DEADLINE_MS} ms`);
      assert.ok(r.took >= DEADLINE_MS - 10, `ended after ${r.took} ms`);
    }
  });
});

describe(`status webhooks: memory with a huge reply, in a real server process (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  let receiver: HostileReceiver | null = null;
  after(async () => {
    await receiver?.close();
    await db.cleanup();
  });

  test('a 300 MB reply, on every retry, leaves the peak RSS where it was', async (t) => {
    if (!(await processMemoryMiB(process.pid))) {
      t.skip('needs /proc to read a process RSS');
      return;
    }
    const hugeAnswers = 3;
    receiver = await startHostileReceiver((i) =>
      i === 0 || i > hugeAnswers
        ? healthy
        : {
            kind: 'answer',
            status: 500,
            delayMs: 0,
            body: { type: 'huge', bytes: 300 * 1024 * 1024, chunked: i % 2 === 0 },
          },
    );
    const server = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '200',
      TEGAMI_WEBHOOKS_TIMEOUT_MS: '20000',
    });
    try {
      const url = await server.ready;
      const pid = server.child.pid ?? 0;
      const created = await request(url, 'POST', '/v1/webhook-endpoints', {
        url: receiver.url,
        events: ['message.sent'],
      });
      assert.equal(created.status, 201);
      // Warm up: one ordinary delivery, so the baseline includes everything a delivery loads.
      await request(url, 'POST', '/v1/messages', message());
      await waitFor(async () => receiver?.attempts.length === 1, 'the first webhook');
      await new Promise((r) => setTimeout(r, 500));
      const before = (await processMemoryMiB(pid)) ?? { rss: 0, peak: 0 };

      const sent = await request(url, 'POST', '/v1/messages', message());
      const log = await waitFor(
        async () => {
          const r = await request(
            url,
            'GET',
            `/v1/webhook-endpoints/${created.body.id}/deliveries`,
          );
          const newest = r.body.data[0]; // the second message's delivery, once it exists
          return r.body.data.length === 2 && newest?.status === 'delivered' ? newest : null;
        },
        'delivered after the huge replies',
        120_000,
      );
      assert.equal(log.attempts, hugeAnswers + 1);
      assert.ok(receiver.attempts.at(-1)?.body.includes(sent.body.id));
      const afterwards = (await processMemoryMiB(pid)) ?? { rss: 0, peak: 0 };
      const grew = afterwards.peak - before.peak;
      t.diagnostic(
        `tegami serve: RSS ${before.rss.toFixed(0)} MiB before, peak ${afterwards.peak.toFixed(0)} MiB after ${hugeAnswers} replies of 300 MB (peak grew ${grew.toFixed(0)} MiB)`,
      );
      assert.ok(grew < 48, `peak RSS grew by ${grew.toFixed(0)} MiB`);
      for (const a of receiver.attempts.slice(1, hugeAnswers + 1)) {
        assert.ok((a.endedAt ?? Number.POSITIVE_INFINITY) - a.arrivedAt < 5_000, 'dropped quickly');
      }
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe(`status webhook claims share slots among endpoints (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  let handle: DatabaseHandle;
  /**
   * A second sender's connection. SQLite: the same handle, since two handles in one
   * process would wait for each other's write lock synchronously; the lock serialises claims
   * across processes as it does here.
   */
  let other: DatabaseHandle;
  before(async () => {
    handle = openDatabase(db.url);
    await migrateToLatest(handle.db);
    other = TEST_ENGINE === 'postgres' ? openDatabase(db.url) : handle;
  });
  after(async () => {
    if (other !== handle) await other.close();
    await handle.close();
    await db.cleanup();
  });

  test("slots go round the endpoints, one each per round, up to each one's room", () => {
    const endpoints = [
      { id: 'a', room: 4 },
      { id: 'b', room: 1 },
      { id: 'c', room: 2 },
    ];
    assert.deepEqual(shareSlots(endpoints, 2), [
      ['a', 1],
      ['b', 1],
    ]);
    assert.deepEqual(shareSlots(endpoints, 5), [
      ['a', 2],
      ['b', 1],
      ['c', 2],
    ]);
    assert.deepEqual(shareSlots(endpoints, 100), [
      ['a', 4],
      ['b', 1],
      ['c', 2],
    ]);
    assert.deepEqual(shareSlots(endpoints, 0), []);
    assert.deepEqual(shareSlots([{ id: 'full', room: 0 }], 3), []);
  });

  test('a claim takes a share from every endpoint with due work; busy ones get only their room', async () => {
    const store = new SqlWebhookStore(handle);
    const operator: Actor = { type: 'key', id: 'key_test', name: 'on-call' };
    const now = Date.now();
    const endpoint = (url: string) =>
      createEndpointByHand(store, operator, {
        url,
        events: ['message.sent'],
        secret: 'sixteen-chars-secret',
        now,
        unitId: 'unit_test',
        allUnits: true,
      });
    const a = await endpoint('https://a.example/h');
    const b = await endpoint('https://b.example/h');
    const c = await endpoint('https://c.example/h');
    // A backlog at A, oldest of all; then one delivery for B and three for C.
    const enqueue = (count: number, at: number) =>
      handle.writeTransaction((trx) =>
        enqueueWebhookEvents(
          trx,
          handle,
          Array.from({ length: count }, (_, i) => ({
            type: 'message.sent' as const,
            messageId: `msg_${at}_${i}`,
            status: 'sent',
          })),
          at,
        ),
      );
    await enqueue(1, now - 3_000); // to A, B and C alike
    // B's pending delivery is failed.
    await deleteEndpointByHand(store, operator, { id: b.id, unitId: undefined }, now - 2_500);
    await enqueue(9, now - 2_000); // to A and C (B is gone)
    const perEndpoint = (claimed: { endpointId: string }[]) => {
      const counts: Record<string, number> = {};
      for (const d of claimed) counts[d.endpointId] = (counts[d.endpointId] ?? 0) + 1;
      return counts;
    };
    const first = await store.claimDue({
      slots: 3,
      perEndpoint: 2,
      busy: new Map(),
      leaseMs: 60_000,
      now,
    });
    assert.deepEqual(perEndpoint(first), { [a.id]: 2, [c.id]: 1 });
    // A is now full (2 in flight); C has room for 1 more, so only that is taken.
    const busy = new Map([
      [a.id, 2],
      [c.id, 1],
    ]);
    const second = await store.claimDue({ slots: 10, perEndpoint: 2, busy, leaseMs: 60_000, now });
    assert.deepEqual(perEndpoint(second), { [c.id]: 1 });
    assert.ok(second.every((d) => d.url === c.url && d.secret === c.secret));
    // Two senders claiming at once never get the same status webhook.
    const rival = new SqlWebhookStore(other);
    const claims = await Promise.all(
      [store, rival, store, rival].map((s) =>
        s.claimDue({ slots: 4, perEndpoint: 4, busy: new Map(), leaseMs: 60_000, now }),
      ),
    );
    const ids = claims.flat().map((d) => d.id);
    assert.equal(new Set(ids).size, ids.length, 'no delivery claimed twice');
    assert.equal(ids.length, 20 - 3 - 1, 'every due delivery claimed once');
    // Leased: none is due again before the lease ends.
    assert.deepEqual(
      await store.claimDue({ slots: 10, perEndpoint: 10, busy: new Map(), leaseMs: 1, now }),
      [],
    );
  });
});
