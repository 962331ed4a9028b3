import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { DeliveryWorker } from '../src/delivery/worker.ts';
import { writeHandingOver } from '../src/domain/hand-over.ts';
import type { ClaimRequest } from '../src/domain/ports/delivery-store.ts';
import type { DeliveryHandOff } from '../src/domain/ports/hand-off.ts';
import type {
  NewMessage,
  Submission,
  SubmissionOutcome,
} from '../src/domain/ports/message-store.ts';
import type { Provider } from '../src/domain/ports/provider.ts';
import { DEFAULT_RETRY_POLICY } from '../src/domain/retry-policy.ts';
import type { ClaimedMessage } from '../src/domain/types.ts';
import {
  message,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { claimedMessage, fakeDeliveryStore, minimalContent } from './support/fakes.ts';

/**
 * `tegami serve` hands accepted mail to its own worker (domain/ports/hand-off.ts): written
 * leased in the accepting transaction, sent without a claim, and only while nothing queues.
 */

interface Row {
  status: string;
  lease_owner: string | null;
  attempt_count: number;
}

async function rowOf(svc: TestService, id: string): Promise<Row> {
  const [row] = await queryDatabase<Row>(
    svc.databaseUrl,
    'select status, lease_owner, attempt_count from messages where id = ?',
    [id],
  );
  assert.ok(row, `message ${id} is stored`);
  return row;
}

async function handedOver(svc: TestService): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tegami_messages_handed_over_total '));
  assert.ok(line, '/metrics has tegami_messages_handed_over_total');
  return Number(line.split(' ')[1]);
}

async function submit(svc: TestService, to: string): Promise<string> {
  const res = await svc.request('POST', '/v1/messages', message({ to: [{ email: to }] }));
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id as string;
}

function untilStatus(svc: TestService, id: string, status: string) {
  return waitFor(async () => {
    const r = await svc.request('GET', `/v1/messages/${id}`);
    return r.body.status === status ? r.body : null;
  }, `${id} to become ${status}`);
}

describe(`hand-off from the API to the worker of the same process (${TEST_ENGINE})`, () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ TEGAMI_PROVIDER: 'test', TEGAMI_WORKER_CONCURRENCY: '2' });
    // The worker's first claim (an empty queue) opens the way for hand-overs.
    await untilStatus(svc, await submit(svc, 'first@example.com'), 'sent');
  });
  after(() => svc.stop());

  test('accepted mail is stored leased to the worker and sent without a claim', async () => {
    const before = await handedOver(svc);
    const id = await submit(svc, 'slow-800@example.com');
    // Right after the 202, before any claim could run: already the worker's, first attempt.
    const row = await rowOf(svc, id);
    assert.equal(row.status, 'sending');
    assert.equal(row.lease_owner, svc.service.worker?.leaseOwner);
    assert.equal(row.attempt_count, 1);
    const sent = await untilStatus(svc, id, 'sent');
    assert.equal(sent.attempt_count, 1);
    assert.equal(await handedOver(svc), before + 1);
  });

  test('never more places than TEGAMI_WORKER_CONCURRENCY: the rest queue and go out after', async () => {
    const before = await handedOver(svc);
    const ids = await Promise.all(
      Array.from({ length: 5 }, (_, i) => submit(svc, `slow-600-${i}@example.com`)),
    );
    const sending = await queryDatabase<{ n: number }>(
      svc.databaseUrl,
      "select count(*) as n from messages where status = 'sending'",
    );
    assert.ok(Number(sending[0]?.n) <= 2, `${sending[0]?.n} sending at once`);
    for (const id of ids) assert.equal((await untilStatus(svc, id, 'sent')).attempt_count, 1);
    const handed = (await handedOver(svc)) - before;
    assert.ok(handed >= 1 && handed <= 2, `${handed} of 5 handed over`);
  });

  test('a suppressed recipient is not handed over: the claim dead-letters the message as before', async () => {
    const added = await svc.request('POST', '/v1/suppressions', { email: 'gone@example.com' });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const before = await handedOver(svc);
    const id = await submit(svc, 'Gone@example.com');
    const failed = await untilStatus(svc, id, 'failed');
    assert.equal(failed.attempt_count, 0);
    assert.match(failed.last_error, /all recipients are suppressed/);
    assert.equal(await handedOver(svc), before);
  });
});

describe(`TEGAMI_WORKER_HAND_OFF=false (${TEST_ENGINE})`, () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ TEGAMI_PROVIDER: 'test', TEGAMI_WORKER_HAND_OFF: 'false' });
  });
  after(() => svc.stop());

  test('accepted mail queues and the worker claims it', async () => {
    for (const to of ['one@example.com', 'two@example.com']) {
      assert.equal((await untilStatus(svc, await submit(svc, to), 'sent')).attempt_count, 1);
    }
    assert.equal(await handedOver(svc), 0);
  });
});

describe('the worker hands over only while nothing queues', () => {
  const claimed = (id: string) => claimedMessage(id, 'bulk');

  test('a full claim stops hand-overs; a short one lets them through, within the free places', async () => {
    const due = ['a', 'b', 'c', 'd'].map(claimed);
    const claims: ClaimRequest[] = [];
    let answerSecondClaim: (rows: ClaimedMessage[]) => void = () => {};
    const store = fakeDeliveryStore({
      async claimDue(request) {
        claims.push(request);
        if (claims.length === 2) return new Promise((resolve) => (answerSecondClaim = resolve));
        return due.splice(0, request.limit);
      },
    });
    const sent: string[] = [];
    let releaseSends: () => void = () => {};
    const holdSends = new Promise<void>((resolve) => (releaseSends = resolve));
    const provider: Provider = {
      name: 'test',
      async send(m) {
        sent.push(m.id);
        await holdSends;
        return { outcome: 'accepted' };
      },
    };
    const worker = new DeliveryWorker({
      store,
      provider,
      retry: DEFAULT_RETRY_POLICY,
      options: { concurrency: 12, batchSize: 4, leaseMs: 30_000, pollIntervalMs: 10_000 },
      logger: pino({ level: 'silent' }),
      outage: { failed() {}, succeeded() {} },
    });
    assert.equal(worker.reserve(1, Date.now()), null, 'not running: nothing is handed over');
    worker.start();
    await waitFor(async () => claims.length === 2 || null, 'a second claim');
    // The first claim came back full (4 of 4): more may be waiting, so mail must queue, even
    // with 4 places free beside the 4 in flight and the 4 the second claim may fill.
    assert.deepEqual(sent, ['a', 'b', 'c', 'd']);
    assert.equal(worker.reserve(1, Date.now()), null);
    answerSecondClaim([]);
    const reservation = await waitFor(
      async () => worker.reserve(100, Date.now()),
      'hand-overs after a short claim',
    );
    assert.equal(reservation.places, 8, 'the free places: 12 less the 4 in flight');
    assert.equal(reservation.lease.owner, worker.leaseOwner);
    assert.equal(worker.reserve(1, Date.now()), null, 'every place is promised');
    worker.deliver(reservation, [claimed('e')]);
    await waitFor(async () => sent.includes('e') || null, 'the handed message sent');
    // The 7 places not used are free again.
    assert.equal(worker.reserve(100, Date.now())?.places, 7);
    releaseSends();
    await worker.stop();
  });
});

describe('writeHandingOver: which messages are written leased', () => {
  const lease = { owner: 'worker-1', expiresAt: 99_000 };
  function fakeHandOff(free: number) {
    const given: { places: number; delivered: string[] }[] = [];
    const handOff: DeliveryHandOff = {
      reserve: (count) => (free > 0 ? { lease, places: Math.min(count, free) } : null),
      deliver: (reservation, messages) =>
        given.push({ places: reservation.places, delivered: messages.map((m) => m.id) }),
    };
    return { handOff, given };
  }
  const newMessage = (id: string, sendAt: number | null = null): NewMessage => ({
    id,
    apiKeyId: null,
    content: minimalContent(),
    sendAt,
    createdAt: 1_000,
  });
  // Stores what it is given: leased messages are reported leased, except ids in `refuse`.
  const store =
    (written: Submission[][], refuse = new Set<string>()) =>
    async (group: Submission[]): Promise<SubmissionOutcome[]> => {
      written.push(group);
      return group.map((s) => ({
        kind: 'stored' as const,
        leased: s.messages
          .filter((m) => m.lease && !refuse.has(m.id))
          .map((m) => ({ id: m.id, unitId: 'unit_1' })),
      }));
    };

  test('due mail up to the free places is leased and handed over; scheduled mail and the rest queue', async () => {
    const { handOff, given } = fakeHandOff(2);
    const written: Submission[][] = [];
    const group = [
      { messages: [newMessage('a'), newMessage('later', 5_000)] },
      { messages: [newMessage('b'), newMessage('c')] },
    ];
    await writeHandingOver(handOff, group, store(written), 2_000);
    const leased = written[0]?.flatMap((s) => s.messages.filter((m) => m.lease).map((m) => m.id));
    assert.deepEqual(leased, ['a', 'b']);
    assert.deepEqual(given, [{ places: 2, delivered: ['a', 'b'] }]);
  });

  test('a message the store did not keep leased (a suppressed recipient) is not handed over', async () => {
    const { handOff, given } = fakeHandOff(5);
    await writeHandingOver(
      handOff,
      [{ messages: [newMessage('a'), newMessage('b')] }],
      store([], new Set(['b'])),
      2_000,
    );
    assert.deepEqual(given, [{ places: 2, delivered: ['a'] }]);
  });

  test('a failed write gives every place back and fails as it did', async () => {
    const { handOff, given } = fakeHandOff(5);
    await assert.rejects(
      writeHandingOver(
        handOff,
        [{ messages: [newMessage('a')] }],
        async () => {
          throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
        },
        2_000,
      ),
      { code: 'SQLITE_BUSY' },
    );
    assert.deepEqual(given, [{ places: 1, delivered: [] }]);
  });

  test('without a free place the group is written as it came', async () => {
    const { handOff, given } = fakeHandOff(0);
    const written: Submission[][] = [];
    const group = [{ messages: [newMessage('a')] }];
    await writeHandingOver(handOff, group, store(written), 2_000);
    assert.equal(written[0], group);
    assert.deepEqual(given, []);
  });
});
