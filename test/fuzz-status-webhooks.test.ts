import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { fuzzRuns } from './support/fuzz.ts';
import {
  type Attempt,
  type Behaviour,
  type Body,
  type HostileReceiver,
  startHostileReceiver,
} from './support/hostile-receiver.ts';

/**
 * Property: whatever status-webhook receivers do (any status, slow or never answering, trickling,
 * huge, cut-off or malformed answers, dropped connections, redirects), the sender keeps
 * going; every attempt ends by its deadline; memory stays bounded; a healthy endpoint's webhook
 * is not held up; and each delivery is retried exactly by the retry rule until a 2xx status or
 * the end of its retry window.
 */

const TIMEOUT_MS = 700;
const RETRY_BASE_MS = 150;
const RETRY_WINDOW_MS = 1_000;
const MAX_PER_ENDPOINT = 2;
/** How much later than its deadline an attempt may end on a slow, shared machine. */
const SLACK_MS = 1_000;
const HEALTHY_WITHIN_MS = 2_000;
/** Growth of this process's RSS (receivers and server together) that counts as unbounded. */
const RSS_GROWTH_LIMIT_MIB = 150;
const MIB = 1024 * 1024;

/** Well within the deadline, or well past it: nothing in between, where timing would decide. */
const delayArb = fc.oneof(
  fc.integer({ min: 0, max: 150 }),
  fc.integer({ min: TIMEOUT_MS + 400, max: TIMEOUT_MS * 3 }),
);

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  fc.record({
    type: fc.constant('text' as const),
    text: fc.string({ maxLength: 300, unit: 'binary' }),
  }),
  fc.record({
    type: fc.constant('huge' as const),
    bytes: fc.integer({ min: 5_000, max: 256 * MIB }),
    chunked: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('trickle' as const),
    everyMs: fc.integer({ min: 30, max: 300 }),
    forMs: fc.integer({ min: 100, max: TIMEOUT_MS * 3 }),
  }),
  fc
    .record({
      declared: fc.integer({ min: 10, max: 1_000_000 }),
      fraction: fc.double({ min: 0, max: 0.99, noNaN: true }),
    })
    .map(({ declared, fraction }) => ({
      type: 'cut' as const,
      declared,
      sent: Math.floor(declared * fraction),
    })),
);

/** Answers that are not HTTP: each fails before a status is read. */
const garbageArb = fc.oneof(
  fc.constantFrom(
    'GARBAGE\r\n\r\n',
    'HTTP/1.1 2000 OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n',
    'HTTP/1.1 200 OK\r\nNo colon in this header\r\n\r\n',
    '\u0000\u0001\u0002\u00ff',
    'HTTP/1.1 200 OK\r\n',
  ),
  fc.string({ maxLength: 60 }).map((s) => `X${s}\r\n\r\n`),
);

const behaviourArb: fc.Arbitrary<Behaviour> = fc.oneof(
  fc.record({
    kind: fc.constant('answer' as const),
    status: fc.constantFrom(200, 201, 202, 299, 400, 404, 410, 429, 500, 502, 503),
    delayMs: delayArb,
    body: bodyArb,
  }),
  fc.constant({ kind: 'hang' as const }),
  fc.record({ kind: fc.constant('drop' as const), reset: fc.boolean() }),
  fc.record({ kind: fc.constant('garbage' as const), text: garbageArb, keepOpen: fc.boolean() }),
  fc.record({
    kind: fc.constant('redirect' as const),
    status: fc.constantFrom(301 as const, 302 as const, 303 as const, 307 as const, 308 as const),
    // Filled in with the healthy receiver's address: a redirect must never be followed there.
    location: fc.constant(''),
  }),
);

const scenarioArb = fc.record({
  /** Per receiver, the behaviours its attempts go through, in turn. */
  receivers: fc.array(fc.array(behaviourArb, { minLength: 1, maxLength: 3 }), {
    minLength: 1,
    maxLength: 3,
  }),
  messages: fc.integer({ min: 1, max: 2 }),
});

/** The retry rule's oracle: does this attempt deliver? Only a 2xx status in time does. */
function delivers(b: Behaviour): boolean {
  return b.kind === 'answer' && b.status >= 200 && b.status <= 299 && b.delayMs < TIMEOUT_MS;
}

/** The smallest delay the rule allows after `attempts` failed attempts (half the ceiling). */
function minRetryDelay(attempts: number): number {
  return Math.min(3_600_000, RETRY_BASE_MS * 2 ** (attempts - 1)) / 2;
}

interface LogEntry {
  id: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
}

describe(`status webhooks against generated hostile receivers (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService({
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '20',
      TEGAMI_WEBHOOKS_TIMEOUT_MS: String(TIMEOUT_MS),
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: String(RETRY_BASE_MS),
      TEGAMI_WEBHOOKS_RETRY_WINDOW_S: String(RETRY_WINDOW_MS / 1000),
      TEGAMI_WEBHOOKS_CONCURRENCY: '16',
      TEGAMI_WEBHOOKS_MAX_PER_ENDPOINT: String(MAX_PER_ENDPOINT),
    });
  });
  after(async () => {
    await tegami.stop();
  });

  async function register(url: string): Promise<string> {
    const r = await tegami.request('POST', '/v1/webhook-endpoints', {
      url,
      events: ['message.sent'],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  }

  async function log(endpointId: string): Promise<LogEntry[]> {
    const r = await tegami.request('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`);
    assert.equal(r.status, 200);
    return r.body.data;
  }

  /**
   * The earliest the sender can have seen this attempt fail, on this process's clock: when the
   * receiver began the answer that ended it, or, for an attempt that only the sender's deadline
   * ended, when the request arrived. The sender measures the retry delay from the moment it sees
   * the failure; when the receiver sees the connection close is no such bound, since the server
   * and the receivers share one event loop that a busy machine can hold up for tens of
   * milliseconds between the sender giving up and the receiver hearing of it.
   */
  function failedFrom(a: Attempt): { at: number; byAnswer: boolean } {
    const timedOut = a.behaviour.kind === 'answer' && a.behaviour.delayMs >= TIMEOUT_MS;
    return timedOut || a.answeredAt === null
      ? { at: a.arrivedAt, byAnswer: false }
      : { at: a.answeredAt, byAnswer: true };
  }

  /** Checks one delivery's attempts, as its receiver saw them, against its log entry. */
  function checkDelivery(entry: LogEntry, seen: Attempt[], where: string) {
    const attempts = [...seen].sort((a, b) => a.arrivedAt - b.arrivedAt);
    assert.ok(attempts.length >= 1, `${where}: attempted`);
    assert.equal(entry.attempts, attempts.length, `${where}: attempts in the log`);
    attempts.forEach((a, i) => {
      assert.notEqual(a.endedAt, null, `${where}: attempt ${i + 1} (${a.behaviour.kind}) ended`);
      const took = (a.endedAt ?? 0) - a.arrivedAt;
      assert.ok(took <= TIMEOUT_MS + SLACK_MS, `${where}: attempt ${i + 1} took ${took} ms`);
      const next = attempts[i + 1];
      if (!next) return;
      assert.equal(delivers(a.behaviour), false, `${where}: tried again after a 2xx`);
      // The retry arrives after the sender claimed it, which is no earlier than the delay after
      // the failure. An answer comes before the sender sees it, so the rule holds to the
      // millisecond; 50 ms for a deadline that passes in the very turn the request is read.
      const failed = failedFrom(a);
      const gap = next.arrivedAt - failed.at;
      assert.ok(
        gap >= minRetryDelay(i + 1) - (failed.byAnswer ? 0 : 50),
        `${where}: retry ${i + 1} came ${gap} ms after attempt ${i + 1} (${a.behaviour.kind}) could have failed (rule: ≥ ${minRetryDelay(i + 1)} ms; ${next.arrivedAt - (a.endedAt ?? a.arrivedAt)} ms after the receiver saw it end)`,
      );
    });
    const last = attempts.at(-1) as Attempt;
    if (delivers(last.behaviour)) {
      assert.equal(entry.status, 'delivered', `${where}: delivered`);
      assert.equal(entry.last_error, null);
      return;
    }
    assert.equal(entry.status, 'failed', `${where}: failed after its window`);
    assert.ok(entry.last_error && entry.last_error.length <= 500, `${where}: says why`);
    // Giving up is right only once the next retry would fall outside the window.
    const ceiling = Math.min(3_600_000, RETRY_BASE_MS * 2 ** (attempts.length - 1));
    const createdAt = Date.parse(entry.created_at);
    assert.ok(
      (last.endedAt ?? last.arrivedAt) + ceiling + 300 >= createdAt + RETRY_WINDOW_MS,
      `${where}: gave up ${createdAt + RETRY_WINDOW_MS - (last.endedAt ?? 0)} ms before the window ended`,
    );
  }

  test('the sender holds every property whatever the receivers do', async (t) => {
    let peakRss = process.memoryUsage().rss;
    const baselineRss = peakRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 25);
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    let runs = 0;
    try {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          runs++;
          const healthy = await startHostileReceiver(() => ({
            kind: 'answer',
            status: 200,
            delayMs: 0,
            body: { type: 'text', text: 'ok' },
          }));
          const redirectTo = `http://127.0.0.1:${healthy.port}/redirected`;
          const hostile: HostileReceiver[] = [];
          const endpointIds: string[] = [];
          try {
            for (const behaviours of scenario.receivers) {
              hostile.push(
                await startHostileReceiver((i) => {
                  const b = behaviours[i % behaviours.length] as Behaviour;
                  return b.kind === 'redirect' ? { ...b, location: redirectTo } : b;
                }),
              );
            }
            const hostileIds: string[] = [];
            for (const r of hostile) hostileIds.push(await register(r.url));
            const healthyId = await register(healthy.url);
            endpointIds.push(...hostileIds, healthyId);

            const accepted: { id: string; at: number }[] = [];
            for (let m = 0; m < scenario.messages; m++) {
              const r = await tegami.request('POST', '/v1/messages', message());
              assert.equal(r.status, 202);
              accepted.push({ id: r.body.id, at: Date.now() });
            }

            // The healthy endpoint gets each webhook promptly, once, whatever the others do.
            for (const { id, at } of accepted) {
              const got = await waitFor(
                async () => healthy.attempts.find((a) => a.body.includes(id)),
                'the healthy webhook',
              );
              const delay = got.arrivedAt - at;
              assert.ok(delay <= HEALTHY_WITHIN_MS, `healthy webhook after ${delay} ms`);
            }

            // Every hostile delivery ends delivered or failed (its window is 1 s).
            const logs = await waitFor(
              async () => {
                const all = await Promise.all(hostileIds.map(log));
                return all.every(
                  (l) =>
                    l.length === scenario.messages &&
                    l.every((d) => d.status === 'delivered' || d.status === 'failed'),
                )
                  ? all
                  : null;
              },
              'every hostile delivery to finish',
              RETRY_WINDOW_MS + 4 * TIMEOUT_MS + 10_000,
            );
            // Receivers see a request's end a moment after the sender records it.
            await waitFor(
              async () => hostile.every((r) => r.open === 0),
              'every hostile attempt to end at the receiver',
              TIMEOUT_MS + SLACK_MS,
            );

            hostile.forEach((r, n) => {
              assert.ok(r.maxOpen <= MAX_PER_ENDPOINT, `receiver ${n}: ${r.maxOpen} at once`);
              for (const entry of logs[n] ?? []) {
                const seen = r.attempts.filter((a) => a.deliveryId === entry.id);
                checkDelivery(entry, seen, `receiver ${n}, ${entry.id}`);
              }
            });
            const healthyLog = await log(healthyId);
            assert.deepEqual(
              healthyLog.map((d) => [d.status, d.attempts]),
              accepted.map(() => ['delivered', 1]),
            );
            assert.deepEqual(
              healthy.attempts.filter((a) => a.path !== '/hooks').map((a) => a.path),
              [],
              'redirects are not followed',
            );
            const grew = (peakRss - baselineRss) / MIB;
            assert.ok(grew < RSS_GROWTH_LIMIT_MIB, `RSS grew by ${grew.toFixed(0)} MiB`);
          } finally {
            for (const id of endpointIds) {
              await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
            }
            for (const r of [...hostile, healthy]) await r.close();
          }
        }),
        { numRuns: fuzzRuns(5), endOnFailure: true },
      );
    } finally {
      clearInterval(sampler);
      process.off('unhandledRejection', onRejection);
    }
    assert.deepEqual(rejections, [], 'no unhandled rejections');
    // Still working after all that.
    const check = await startHostileReceiver(() => ({
      kind: 'answer',
      status: 204,
      delayMs: 0,
      body: { type: 'text', text: '' },
    }));
    try {
      const id = await register(check.url);
      await tegami.request('POST', '/v1/messages', message());
      await waitFor(async () => check.attempts.length === 1, 'a webhook after the runs');
      await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
    } finally {
      await check.close();
    }
    t.diagnostic(
      `${runs} runs; RSS peaked ${((peakRss - baselineRss) / MIB).toFixed(0)} MiB above the start`,
    );
  });
});
