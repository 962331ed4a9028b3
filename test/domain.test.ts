// tegami-test: no-database

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ProviderTurns } from '../src/delivery/provider-turns.ts';
import { backoffDelayMs } from '../src/domain/backoff.ts';
import { canonicalJson, canonicalJsonHash } from '../src/domain/canonical-json.ts';
import { parseIsoTime } from '../src/domain/operations/message-query.ts';
import {
  DEFAULT_CIRCUIT_OPTIONS,
  ProviderCircuit,
  WORKER_GONE_AFTER_MS,
} from '../src/domain/provider-circuit.ts';
import { workersProviderMismatch, worstReport } from '../src/domain/provider-health.ts';
import {
  nothingPruned,
  RETENTION_FIRST_BATCH,
  RETENTION_MAX_BATCH,
  RETENTION_MIN_BATCH,
  RETENTION_TRANSACTION_MS,
  type RetentionPruned,
  retentionBatchSize,
  retentionPauseMs,
  retentionPrunedText,
} from '../src/domain/retention.ts';
import {
  DEFAULT_RETRY_POLICY,
  decideAfterAttempt,
  retryDelayMs,
} from '../src/domain/retry-policy.ts';
import {
  signWebhook,
  statusWebhookBackoff,
  webhookSignatures,
} from '../src/domain/status-webhooks.ts';
import {
  MESSAGE_STATUSES,
  RECIPIENT_STATUSES,
  reportedRecipientStatus,
} from '../src/domain/types.ts';
import { isValidEmail, validateMessage } from '../src/domain/validate-message.ts';
import { message } from './helpers.ts';

describe('retry policy', () => {
  const policy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 8000 };

  test('full jitter stays within [0, min(cap, base * 2^(n-1))]', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const ceiling = Math.min(8000, 1000 * 2 ** (attempt - 1));
      assert.equal(
        retryDelayMs(policy, attempt, undefined, () => 0),
        0,
      );
      assert.equal(
        retryDelayMs(policy, attempt, undefined, () => 0.999999),
        Math.floor(0.999999 * ceiling),
      );
    }
  });

  test("the provider's Retry-After is a floor", () => {
    assert.equal(
      retryDelayMs(policy, 1, 5000, () => 0),
      5000,
    );
    assert.equal(
      retryDelayMs(policy, 4, 10, () => 0.5),
      4000,
    );
  });

  test('decisions: accepted → sent, permanent → failed, retryable → retry until exhausted', () => {
    assert.deepEqual(decideAfterAttempt(policy, 1, { outcome: 'accepted' }, 0), { kind: 'sent' });
    const permanent = decideAfterAttempt(
      policy,
      1,
      { outcome: 'permanent', errorClass: 'http_400', detail: 'bad' },
      0,
    );
    assert.deepEqual(permanent, { kind: 'failed', reason: 'http_400: bad' });
    const retry = decideAfterAttempt(
      policy,
      2,
      { outcome: 'retryable', errorClass: 'http_503' },
      100,
      () => 0.5,
    );
    assert.deepEqual(retry, { kind: 'retry', at: 1100, reason: 'http_503', chargesBudget: true });
    const exhausted = decideAfterAttempt(
      policy,
      5,
      { outcome: 'retryable', errorClass: 'timeout' },
      0,
    );
    assert.equal(exhausted.kind, 'failed');
  });

  test('the default policy keeps retrying for about a day', () => {
    let expected = 0;
    for (let attempt = 1; attempt < DEFAULT_RETRY_POLICY.maxAttempts; attempt++) {
      expected += retryDelayMs(DEFAULT_RETRY_POLICY, attempt, undefined, () => 0.5);
    }
    const hours = expected / 3600_000;
    assert.ok(hours > 18 && hours < 30, `expected ~24 h of retries, got ${hours.toFixed(1)} h`);
  });
});

describe('status webhook backoff', () => {
  test('equal jitter stays within [ceiling / 2, ceiling], doubling from the base up to an hour', () => {
    const backoff = statusWebhookBackoff(10_000);
    for (let attempts = 1; attempts <= 20; attempts++) {
      const ceiling = Math.min(3600_000, 10_000 * 2 ** (attempts - 1));
      assert.equal(
        backoffDelayMs(backoff, attempts, () => 0),
        ceiling / 2,
      );
      assert.equal(
        backoffDelayMs(backoff, attempts, () => 1),
        ceiling,
      );
    }
  });
});

describe('message validation', () => {
  test('addresses', () => {
    for (const ok of ['a@b.co', 'first.last+tag@sub.example.co.jp', "o'brien@example.ie"]) {
      assert.ok(isValidEmail(ok), ok);
    }
    for (const bad of [
      '',
      'a',
      'a@',
      '@b.co',
      'a@b',
      'a b@c.co',
      'a@b..co',
      'a@-b.co',
      'a@b.co\r\n',
      '.a@b.co',
      `${'a'.repeat(65)}@b.co`,
    ]) {
      assert.ok(!isValidEmail(bad), JSON.stringify(bad));
    }
  });

  test('an internationalised domain is refused with its ASCII form named; other refusals say no more', () => {
    const problems = (email: string) => {
      const result = validateMessage(message({ to: [{ email }] }), 0);
      assert.ok(Array.isArray(result), email);
      return result.filter((e) => e.field === 'to[0].email').map((e) => e.message);
    };
    assert.deepEqual(problems('guest@例え.jp'), [
      'is not a valid email address: its domain must be written in ASCII, as guest@xn--r8jz45g.jp',
    ]);
    // Its advice is an address the API takes.
    assert.ok(isValidEmail('guest@xn--r8jz45g.jp'));
    // A local part in another script has no ASCII form to suggest; nor has a domain that is wrong anyway.
    for (const email of ['山田@例え.jp', 'guest@例え..jp', 'guest@例え', 'a b@例え.jp']) {
      assert.deepEqual(problems(email), ['is not a valid email address'], email);
    }
  });

  test('a good message passes, with defaults filled in', () => {
    const result = validateMessage(message(), Date.now());
    assert.ok(!Array.isArray(result));
    assert.deepEqual(result.content.cc, []);
    assert.equal(result.sendAt, null);
  });

  test('send_at in the past sends now; in the future schedules', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const past = validateMessage(message({ send_at: '2029-12-31T00:00:00Z' }), now);
    const future = validateMessage(message({ send_at: '2030-01-01T09:00:00+09:00' }), now);
    const later = validateMessage(message({ send_at: '2030-01-02T00:00:00Z' }), now);
    assert.ok(!Array.isArray(past) && past.sendAt === null);
    assert.ok(!Array.isArray(future) && future.sendAt === null, '09:00+09:00 is midnight UTC: now');
    assert.ok(!Array.isArray(later) && later.sendAt === Date.parse('2030-01-02T00:00:00Z'));
  });

  test('a send_at or a filter time on a day or at an hour that does not exist is refused, not moved', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    for (const sendAt of ['2030-02-30T00:00:00Z', '2030-01-01T24:00:00Z', '2030-13-01T00:00:00Z']) {
      const result = validateMessage(message({ send_at: sendAt }), now);
      assert.ok(Array.isArray(result), sendAt);
      assert.equal(result[0]?.field, 'send_at');
    }
    for (const time of [
      '2026-02-30',
      '2027-02-29',
      '2026-02-28T24:00',
      '2026-12-31T23:60',
      '2026-00-10',
    ]) {
      assert.ok(Number.isNaN(parseIsoTime(time)), time);
    }
    assert.equal(parseIsoTime('2028-02-29'), Date.parse('2028-02-29T00:00:00Z'));
    assert.equal(parseIsoTime('2026-12-31T23:59'), Date.parse('2026-12-31T23:59:00Z'));
    assert.equal(parseIsoTime('2026-12-31T23:59:59+09:00'), Date.parse('2026-12-31T14:59:59Z'));
  });

  test('metadata is bounded by what SendGrid custom_args can carry', () => {
    const result = validateMessage(message({ metadata: { big: 'x'.repeat(10_001) } }), 0);
    assert.ok(Array.isArray(result));
    assert.equal(result[0]?.field, 'metadata');
  });
});

describe("a recipient's reported status", () => {
  test('follows a message that is waiting or cancelled, else is what was stored', () => {
    for (const message of MESSAGE_STATUSES) {
      for (const stored of RECIPIENT_STATUSES) {
        const reported = reportedRecipientStatus(message, stored);
        if (message === 'queued' || message === 'scheduled' || message === 'sending') {
          assert.equal(reported, 'pending', `${message}/${stored}`);
        } else if (message === 'cancelled') {
          assert.equal(reported, 'cancelled', `${message}/${stored}`);
        } else {
          assert.equal(reported, stored, `${message}/${stored}`);
        }
      }
    }
  });
});

describe('status webhook signatures', () => {
  test('one secret: both headers carry its one entry', () => {
    const signed = webhookSignatures({ current: 'new', previous: null }, 1700000000, '{}');
    assert.equal(signed.single, signWebhook('new', 1700000000, '{}'));
    assert.equal(signed.all, signed.single);
  });

  test('while a rotated-out secret is in force: the single header is its, the list has both', () => {
    const signed = webhookSignatures({ current: 'new', previous: 'old' }, 1700000000, '{}');
    const [current, previous] = [
      signWebhook('new', 1700000000, '{}'),
      signWebhook('old', 1700000000, '{}'),
    ];
    assert.equal(signed.single, previous);
    assert.equal(signed.all, `${current},${previous}`);
    assert.match(signed.single, /^v1=[0-9a-f]{64}$/);
  });
});

describe("the workers' provider against a process's own", () => {
  const now = 1_000_000;
  const snapshot = new ProviderCircuit(DEFAULT_CIRCUIT_OPTIONS, now).snapshot(now);
  const report = (provider: string, reporter: string, ageMs = 0) => ({
    provider,
    reporter,
    snapshot,
    updatedAt: now - ageMs,
  });

  test('workers that reported lately on other providers, counted by provider; gone ones are not', () => {
    const reports = [
      report('sendgrid', 'host-a/pt-1/10/x'),
      report('sendgrid', 'host-b/pt-2/11/y'),
      report('test', 'host-c/pt-3/12/z'),
      report('sandbox', 'host-d/pt-4/13/w'),
      // Silent too long: taken to be gone.
      report('other', 'host-e/pt-5/14/v', WORKER_GONE_AFTER_MS + 1),
    ];
    assert.deepEqual(workersProviderMismatch(reports, 'sandbox', now), {
      configured: 'sandbox',
      workers: [
        { provider: 'sendgrid', count: 2 },
        { provider: 'test', count: 1 },
      ],
    });
  });

  test('none when every worker heard from lately is on the same provider, or none is', () => {
    assert.equal(workersProviderMismatch([report('sendgrid', 'a')], 'sendgrid', now), null);
    assert.equal(
      workersProviderMismatch([report('sandbox', 'a', WORKER_GONE_AFTER_MS + 1)], 'sendgrid', now),
      null,
    );
    assert.equal(workersProviderMismatch([], 'sendgrid', now), null);
  });
});

describe("the cluster's view of a provider from its workers' circuits", () => {
  const t0 = 1_000_000;
  const outage = {
    outcome: 'retryable' as const,
    errorClass: 'http_503',
    detail: 'service unavailable',
    httpStatus: 503,
    providerFault: 'outage' as const,
  };
  const accepted = { outcome: 'accepted' as const, httpStatus: 202 };
  const circuit = (at = t0) =>
    new ProviderCircuit({ ...DEFAULT_CIRCUIT_OPTIONS, failureThreshold: 1 }, at);
  /** The cluster's state from circuits named by their workers. */
  const view = (workers: Record<string, ProviderCircuit>, now: number) =>
    worstReport(
      Object.entries(workers).map(([reporter, c]) => ({
        provider: 'sendgrid',
        reporter,
        snapshot: c.snapshot(now),
        updatedAt: now,
      })),
      'sendgrid',
    )?.snapshot.state;

  test('an outage one worker saw end is over, though another had nothing to probe with', () => {
    const a = circuit();
    const b = circuit();
    a.record(outage, t0 + 100, false);
    b.record(outage, t0 + 200, false);
    assert.equal(view({ a, b }, t0 + 300), 'unavailable');
    // b's probe is answered; a has no mail left and keeps its view.
    b.record(accepted, t0 + 5_000, true);
    assert.equal(a.current, 'unavailable');
    assert.equal(view({ a, b }, t0 + 6_000), 'healthy');
  });

  test('a worker that started during the outage, and has no answer yet, proves nothing', () => {
    const a = circuit();
    a.record(outage, t0 + 100, false);
    const restarted = circuit(t0 + 1_000);
    assert.equal(view({ a, new: restarted }, t0 + 2_000), 'unavailable');
    restarted.record(accepted, t0 + 3_000, false);
    assert.equal(view({ a, new: restarted }, t0 + 4_000), 'healthy');
  });

  test("one worker's trouble shows while the others have been healthy since before it", () => {
    const a = circuit();
    const b = circuit();
    b.record(accepted, t0 + 100, false);
    a.record(outage, t0 + 200, false);
    b.record(accepted, t0 + 300, false);
    // b never saw the provider fail: a's view (its egress, say) is not outdated by b's sends.
    assert.equal(view({ a, b }, t0 + 400), 'unavailable');
  });

  test('a worker whose probes go on failing after another recovered stays in the view', () => {
    const revoked = {
      outcome: 'retryable' as const,
      errorClass: 'http_401',
      detail: 'unauthorized',
      httpStatus: 401,
      providerFault: 'account' as const,
    };
    const a = circuit();
    a.record(revoked, t0 + 100, false);
    assert.equal(a.current, 'paused');
    // b restarts later (its own short trouble, then a 202): healthy since after a's pause began.
    const b = circuit(t0 + 5_000);
    b.record(accepted, t0 + 6_000, false);
    assert.equal(view({ a, b }, t0 + 7_000), 'healthy', 'a has not tried since b recovered');
    // a's pause check, sent after b's recovery, still fails: a's key is the trouble, and it shows.
    a.record(revoked, t0 + 65_000, true, t0 + 64_000);
    assert.equal(view({ a, b }, t0 + 66_000), 'paused');
  });

  test("a probe sent before another worker's recovery and answered after it does not bring the outage back", () => {
    const a = circuit();
    const b = circuit();
    a.record(outage, t0 + 100, false);
    b.record(outage, t0 + 200, false);
    b.record(accepted, t0 + 5_000, true);
    // a's probe hung from before b's recovery and timed out after it.
    a.record(outage, t0 + 14_000, true, t0 + 4_000);
    assert.equal(view({ a, b }, t0 + 15_000), 'healthy');
  });
});

describe('mail that waited for a turn at the provider', () => {
  const now = 1_000_000;
  const timeout = {
    outcome: 'unknown',
    providerFault: 'outage',
    errorClass: 'UND_ERR_HEADERS_TIMEOUT',
  } as const;

  test('goes out while the provider answers, and not while failures come in or it is down', () => {
    const circuit = new ProviderCircuit({ ...DEFAULT_CIRCUIT_OPTIONS, failureThreshold: 3 }, now);
    assert.equal(circuit.stillSendsAfterWaiting(5), true);
    circuit.record(timeout, now, false);
    // Failures coming in: the requests still out will tell more.
    assert.equal(circuit.stillSendsAfterWaiting(5), false);
    // Nothing else out: something must be sent to learn whether the provider is back.
    assert.equal(circuit.stillSendsAfterWaiting(0), true);
    circuit.record(timeout, now, false);
    circuit.record(timeout, now, false);
    assert.equal(circuit.current, 'unavailable');
    assert.equal(circuit.stillSendsAfterWaiting(0), false);
    circuit.record({ outcome: 'accepted', httpStatus: 202 }, now, true);
    assert.equal(circuit.stillSendsAfterWaiting(5), true);
  });

  test('turns: at most `size` at once, the rest in order', async () => {
    const turns = new ProviderTurns(2);
    assert.equal(turns.tryTake(), true);
    assert.equal(turns.tryTake(), true);
    assert.equal(turns.tryTake(), false);
    const order: number[] = [];
    const first = turns.take().then(() => order.push(1));
    const second = turns.take().then(() => order.push(2));
    turns.give();
    await first;
    assert.deepEqual(order, [1]);
    assert.equal(turns.othersInFlight(), 1);
    turns.give();
    await second;
    assert.deepEqual(order, [1, 2]);
    turns.give();
    turns.give();
    assert.equal(turns.tryTake(), true);
    assert.equal(turns.tryTake(), true);
    assert.equal(turns.tryTake(), false);
  });
});

describe('canonical JSON', () => {
  // Stored Idempotency-Keys keep these hashes: a change to any of them breaks every retry that
  // spans an upgrade. The values were computed by the first canonical implementation.
  test('request hashes stay what earlier versions stored', () => {
    const body = message({ metadata: { b: '2', a: '1' } });
    assert.equal(
      canonicalJsonHash('/v1/messages\n', body),
      '165b95cf89c8ab9a52fccc6ee3a1deeab7fba3cd6aec6ed288f08d3fa70fb8f3',
    );
    const odd = JSON.parse(
      '{"z":[1,-0,2.5e-7,1e21,true,false,null,"","\\u00e9\\ud83d\\ude00\\"\\n\\u2028"],' +
        '"10":{},"2":[],"a":{"Z":1,"_":2,"a":[{"y":null,"x":"x"}]},"\\u00e9":0}',
    );
    const text =
      '{"10":{},"2":[],"a":{"Z":1,"_":2,"a":[{"x":"x","y":null}]},' +
      '"z":[1,0,2.5e-7,1e+21,true,false,null,"","\u00e9\u{1f600}\\"\\n\u2028"],"\u00e9":0}';
    const hash = '9aee02412be632798ae98b8a23624c303e75bd590d4818827df9e117749d80c0';
    assert.equal(canonicalJsonHash('/v3/mail/send\n', odd), hash);
    assert.equal(createHash('sha256').update(`/v3/mail/send\n${text}`).digest('hex'), hash);
    // Longer than one chunk of the hash's input.
    const long = { messages: ['x'.repeat(70_000), { b: 'y'.repeat(70_000), a: 1 }] };
    assert.equal(
      canonicalJsonHash('/v1/messages/batch\n', long),
      'c02ff2c36b803de27c6e51d5238d26fd4a79fe272eaf9ccbbd45c75cf394a91c',
    );
    // No body at all: the route alone.
    assert.equal(
      canonicalJsonHash('/v1/messages\n', undefined),
      'e54ec8ac5832eeb0a4e24be5dc5f19217e5aa37a574fd36dc862c8019f0dd635',
    );
  });

  test('the text: keys sorted at every level, otherwise as JSON.stringify writes it', () => {
    const filter = {
      unit: 'hotel',
      not: { status: 'failed', category: 'x' },
      metadata: { b: '2' },
    };
    const sorted = {
      metadata: { b: '2' },
      not: { category: 'x', status: 'failed' },
      unit: 'hotel',
    };
    assert.equal(canonicalJson(filter), JSON.stringify(sorted));
    assert.equal(canonicalJson(filter), canonicalJson(JSON.parse(JSON.stringify(sorted))));
    // What JSON cannot hold is left out, or null in an array; toJSON is used.
    const at = new Date(Date.UTC(2025, 0, 2));
    assert.equal(
      canonicalJson({ b: undefined, a: [undefined, () => 1, at], c: 1 }),
      '{"a":[null,null,"2025-01-02T00:00:00.000Z"],"c":1}',
    );
    assert.equal(canonicalJson(undefined), '');
    // Deep nesting: no stack overflow.
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    assert.equal(canonicalJson(JSON.parse(deep)), deep);
  });
});

describe('retention transactions', () => {
  test('are sized by the time the last one took, and followed by a pause twice as long', () => {
    assert.equal(retentionBatchSize(), RETENTION_FIRST_BATCH);
    // Quick ones grow to the largest size, doubling at most; slow ones shrink to the smallest.
    assert.equal(retentionBatchSize({ size: 100, elapsedMs: 1 }), 200);
    let size = RETENTION_FIRST_BATCH;
    for (let i = 0; i < 10; i++) size = retentionBatchSize({ size, elapsedMs: 1 });
    assert.equal(size, RETENTION_MAX_BATCH);
    assert.equal(retentionBatchSize({ size: 500, elapsedMs: 170 }), 250, 'halving at most');
    for (let i = 0; i < 10; i++) size = retentionBatchSize({ size, elapsedMs: 1_000 });
    assert.equal(size, RETENTION_MIN_BATCH);
    // One that took the target time keeps its size; one that took half as long doubles.
    assert.equal(retentionBatchSize({ size: 80, elapsedMs: RETENTION_TRANSACTION_MS }), 80);
    assert.equal(retentionBatchSize({ size: 80, elapsedMs: RETENTION_TRANSACTION_MS / 2 }), 160);
    assert.equal(retentionPauseMs(25), 50);
    assert.equal(retentionPauseMs(0), 1);
  });

  test("a round's log line says what it deleted, in words, whatever it was", () => {
    const text = (pruned: Partial<RetentionPruned>) =>
      retentionPrunedText({ ...nothingPruned(), ...pruned });
    assert.equal(text({}), null, 'nothing deleted, nothing logged');
    assert.equal(text({ idempotencyKeys: 1 }), 'retention pruned 1 idempotency key');
    assert.equal(text({ idempotencyKeys: 2_400 }), 'retention pruned 2,400 idempotency keys');
    assert.equal(text({ messages: 1 }), 'retention pruned 1 message');
    assert.equal(text({ statusWebhooks: 3 }), 'retention pruned 3 status webhooks');
    assert.equal(
      text({ messages: 1_200, idempotencyKeys: 5 }),
      'retention pruned 1,200 messages and 5 idempotency keys',
    );
    assert.equal(
      text({ messages: 1_200, statusWebhooks: 1, idempotencyKeys: 5 }),
      'retention pruned 1,200 messages, 1 status webhook and 5 idempotency keys',
    );
    // Events that never matched a message are deleted alone too, when no mail is old enough.
    assert.equal(text({ unmatchedEvents: 1 }), 'retention pruned 1 unmatched delivery event');
    assert.equal(text({ recoverySetEntries: 1 }), 'retention pruned 1 recovery set entry');
    // Every kind, in one order whatever deleted it.
    assert.equal(
      text({
        idempotencyKeys: 5,
        auditEvents: 2,
        failedRelayEvents: 4,
        recoverySetEntries: 30,
        statusWebhooks: 1,
        unmatchedEvents: 40,
        messages: 1_200,
      }),
      'retention pruned 1,200 messages, 40 unmatched delivery events, 1 status webhook, ' +
        '30 recovery set entries, 4 failed relay events, 2 audit events and 5 idempotency keys',
    );
  });
});
