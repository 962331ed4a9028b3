// tegami-test: no-database
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { type Alert, AlertLifecycle } from '../src/domain/alerts/lifecycle.ts';
import {
  alertWebhookPayload,
  consoleLink,
  slackMessage,
} from '../src/domain/alerts/notifications.ts';
import {
  type AlertCondition,
  API_STEP_HINTS,
  DEFAULT_ALERT_THRESHOLDS,
  evaluateRules,
  evidenceWhileFiring,
  type MonitoringFacts,
  type ProviderFacts,
  type UnitFacts,
} from '../src/domain/alerts/rules.ts';
import { maskUrl, slackUrlProblem } from '../src/domain/alerts/service.ts';
import { count, oneOrMany } from '../src/domain/count-words.ts';
import type { ProviderHealthReport } from '../src/domain/ports/provider-health-store.ts';
import { providerFacts } from '../src/ops/alerts/gather-facts.ts';
import { ProviderRates } from '../src/ops/alerts/provider-rates.ts';

const NOW = 1_800_000_000_000;
const MIN = 60_000;

function unit(over: Partial<UnitFacts> = {}): UnitFacts {
  return {
    unitId: 'unit_A',
    unitName: 'hotel',
    pending: 0,
    oldestPendingSince: null,
    pendingByReason: {},
    pendingErrors: [],
    deadLetters: 0,
    deadLetterErrors: [],
    deadLettersProviderFault: false,
    firstDeadLetterAt: null,
    unconfirmed: 0,
    ...over,
  };
}

function provider(over: Partial<ProviderFacts> = {}): ProviderFacts {
  return {
    name: 'sendgrid',
    state: 'healthy',
    reason: null,
    since: NOW - 60 * MIN,
    attempts: 0,
    failures: 0,
    refused: 0,
    latestFailed: true,
    topErrors: [],
    ...over,
  };
}

function facts(over: Partial<MonitoringFacts> = {}): MonitoringFacts {
  return {
    now: NOW,
    configuredProvider: 'sendgrid',
    providers: [provider()],
    units: [unit()],
    eventsExpected: false,
    lastEventAt: null,
    acceptedSinceLastEvent: 0,
    firstAcceptedSinceLastEvent: null,
    ...over,
  };
}

const rules = (f: MonitoringFacts, overrides = new Map()) =>
  evaluateRules(f, DEFAULT_ALERT_THRESHOLDS, overrides).map((c) => c.key);

describe('alert rules', () => {
  test('delivery delay: the oldest unsent message older than 10 minutes, per unit', () => {
    const late = unit({
      pending: 3,
      oldestPendingSince: NOW - 11 * MIN,
      pendingByReason: { waiting: 3 },
    });
    const fresh = unit({
      unitId: 'unit_B',
      unitName: 'shop',
      pending: 9,
      oldestPendingSince: NOW - 9 * MIN,
    });
    const conditions = evaluateRules(facts({ units: [late, fresh] }), DEFAULT_ALERT_THRESHOLDS);
    assert.deepEqual(
      conditions.map((c) => c.key),
      ['delivery_delay:unit_A'],
    );
    const [c] = conditions as [AlertCondition];
    assert.equal(c.severity, 'critical');
    assert.equal(c.unitName, 'hotel');
    assert.equal(c.evidence.count, 3);
    assert.equal(c.evidence.details.oldest_age_s, 660);
    // Nothing wrong with the provider and nothing tried: Tegami's own fault (no worker sends).
    assert.equal(c.fault, 'tegami');
  });

  test('delivery delay: whose fault follows the provider state and the error classes', () => {
    const late = (over: Partial<UnitFacts>) =>
      unit({ pending: 1, oldestPendingSince: NOW - 20 * MIN, ...over });
    const down = evaluateRules(
      facts({
        units: [late({ pendingByReason: { held: 1 } })],
        providers: [provider({ state: 'unavailable', reason: 'http_503' })],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    ).find((c) => c.rule === 'delivery_delay');
    assert.equal(down?.fault, 'provider');
    assert.match(down?.hint ?? '', /unavailable: http_503/);
    const refused = evaluateRules(
      facts({
        units: [
          late({
            pendingByReason: { retrying: 1 },
            pendingErrors: [{ errorClass: 'http_400', count: 1, sample: null }],
          }),
        ],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    )[0];
    assert.equal(refused?.fault, 'message');
    const flaky = evaluateRules(
      facts({
        units: [
          late({
            pendingByReason: { retrying: 1 },
            pendingErrors: [{ errorClass: 'http_502', count: 1, sample: null }],
          }),
        ],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    )[0];
    assert.equal(flaky?.fault, 'provider');
    // Dead letters a recovery requeued, due hours ago: not the 400 they failed with before (which
    // gather-facts leaves out of the pending errors), and said to be requeued mail.
    const requeued = evaluateRules(
      facts({ units: [late({ pending: 3, pendingByReason: { requeued: 3 } })] }),
      DEFAULT_ALERT_THRESHOLDS,
    )[0];
    assert.equal(requeued?.fault, 'tegami');
    assert.match(
      requeued?.hint ?? '',
      /^requeued by a recovery or a retry and not sent yet: 3 messages/,
    );
    assert.equal(requeued?.evidence.details.requeued, 3);
    // The only worker died during an outage: its held mail is not why nothing is sent now.
    const orphaned = evaluateRules(
      facts({
        units: [
          late({
            pendingByReason: { held: 10, waiting: 600 },
            pendingErrors: [{ errorClass: 'http_503', count: 10, sample: null }],
          }),
        ],
        providers: [provider({ state: 'unknown', since: null })],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    ).find((c) => c.rule === 'delivery_delay');
    assert.equal(orphaned?.fault, 'tegami');
    assert.match(orphaned?.hint ?? '', /no delivery worker reports/);
  });

  test('per-unit overrides: a shorter delay, a muted unit', () => {
    const u = unit({ pending: 1, oldestPendingSince: NOW - 2 * MIN });
    assert.deepEqual(rules(facts({ units: [u] })), []);
    assert.deepEqual(rules(facts({ units: [u] }), new Map([['unit_A', { delayMs: MIN }]])), [
      'delivery_delay:unit_A',
    ]);
    const late = unit({ pending: 1, oldestPendingSince: NOW - 60 * MIN, deadLetters: 5 });
    assert.deepEqual(rules(facts({ units: [late] }), new Map([['unit_A', { muted: true }]])), []);
  });

  test('provider failing: unavailable or paused at once, throttled only after a while', () => {
    assert.deepEqual(
      rules(facts({ providers: [provider({ state: 'unavailable', since: NOW - 5_000 })] })),
      ['provider_failing:sendgrid'],
    );
    assert.deepEqual(rules(facts({ providers: [provider({ state: 'paused', since: NOW })] })), [
      'provider_failing:sendgrid',
    ]);
    assert.deepEqual(
      rules(facts({ providers: [provider({ state: 'throttled', since: NOW - 5 * MIN })] })),
      [],
    );
    const long = evaluateRules(
      facts({ providers: [provider({ state: 'throttled', since: NOW - 11 * MIN })] }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.equal(long[0]?.severity, 'warning');
    // No worker reports while mail waits: nothing is sent. Critical, Tegami's own fault.
    const noWorker = (oldestPendingSince: number) =>
      evaluateRules(
        facts({
          providers: [provider({ state: 'unknown', since: null })],
          units: [unit({ pending: 4, oldestPendingSince })],
        }),
        DEFAULT_ALERT_THRESHOLDS,
      );
    const waiting = noWorker(NOW - 2 * MIN);
    assert.deepEqual(
      waiting.map((c) => [c.key, c.severity, c.fault]),
      [['provider_failing:sendgrid', 'critical', 'tegami']],
    );
    assert.match(
      waiting[0]?.summary ?? '',
      /no delivery worker reports on provider sendgrid: nothing is being sent; 4 messages waiting \(hotel 4\)/,
    );
    assert.equal(waiting[0]?.evidence.count, 4);
    // Mail due less than a minute ago, or none at all (an API started before its workers): quiet.
    assert.deepEqual(noWorker(NOW - 30_000), []);
    assert.deepEqual(
      rules(facts({ providers: [provider({ state: 'unknown', since: null })] })),
      [],
    );
  });

  test('a provider alert says whose mail waits, most first', () => {
    const names = ['hotel', 'shop', 'signup', 'news', 'points', 'survey', 'coupons'];
    const units = names.map((name, i) =>
      unit({
        unitId: `unit_${name}`,
        unitName: name,
        pending: i === 0 ? 2 : (i + 1) * 10,
        oldestPendingSince: NOW - MIN,
      }),
    );
    const [down] = evaluateRules(
      facts({
        providers: [
          provider({
            state: 'unavailable',
            reason: 'HTTP 503',
            since: NOW - 3 * MIN,
            attempts: 40,
            failures: 12,
          }),
        ],
        units: [...units, unit({ unitId: 'unit_idle', unitName: 'idle', pending: 0 })],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.equal(down?.rule, 'provider_failing');
    assert.equal(
      down?.summary,
      'provider sendgrid is unavailable for 3 min: HTTP 503; 272 messages waiting (coupons 70, survey 60, points 50, news 40, signup 30 and 2 more units)',
    );
    assert.equal(down?.evidence.count, 12, 'the count stays the failed attempts');
    assert.equal(down?.evidence.details.waiting_messages, 272);
    const text = JSON.stringify(
      slackMessage({
        kind: 'firing',
        alert: {
          ...(down as AlertCondition),
          id: 'alt_1',
          state: 'firing',
          startedAt: NOW,
          endedAt: null,
          lastNotifiedAt: NOW,
          updatedAt: NOW,
        },
        unitName: null,
        publicUrl: null,
        now: NOW,
      }),
    );
    assert.ok(text.includes('*How many*\\n12 failed attempts; 272 messages waiting'), text);
    assert.ok(text.includes('*Whose mail waits*\\ncoupons 70, survey 60'), text);
    // Nothing waits: the alert says so by saying nothing of units.
    const [quiet] = evaluateRules(
      facts({ providers: [provider({ state: 'paused', reason: 'HTTP 401', since: NOW - MIN })] }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.equal(quiet?.summary, 'provider sendgrid is paused for 60 s: HTTP 401');
    assert.equal(quiet?.evidence.details.waiting_units, null);
  });

  test('the last worker dying during an outage keeps the alert firing, not a false RESOLVED', () => {
    const lifecycle = new AlertLifecycle({ forMs: 15_000, repeatMs: 3600_000 });
    const down = facts({ providers: [provider({ state: 'unavailable', since: NOW - MIN })] });
    const fired = lifecycle.step(evaluateRules(down, DEFAULT_ALERT_THRESHOLDS), [], NOW);
    assert.deepEqual(fired, []);
    const [fire] = lifecycle.step(
      evaluateRules({ ...down, now: NOW + 15_000 }, DEFAULT_ALERT_THRESHOLDS),
      [],
      NOW + 15_000,
    );
    assert.equal(fire?.kind, 'fire');
    const condition = (fire as { condition: AlertCondition }).condition;
    const alert: Alert = {
      id: 'alt_1',
      key: condition.key,
      rule: condition.rule,
      severity: condition.severity,
      state: 'firing',
      unitId: null,
      provider: 'sendgrid',
      fault: condition.fault,
      summary: condition.summary,
      hint: condition.hint,
      evidence: condition.evidence,
      startedAt: NOW + 15_000,
      endedAt: null,
      lastNotifiedAt: NOW + 15_000,
      updatedAt: NOW + 15_000,
    };
    // The only worker is killed: no report, the provider is `unknown`, for minutes.
    for (let t = NOW + 30_000; t <= NOW + 5 * MIN; t += 15_000) {
      const gone = facts({
        now: t,
        providers: [provider({ state: 'unknown', since: null })],
        units: [unit({ pending: 20, oldestPendingSince: NOW - 2 * MIN })],
      });
      const steps = lifecycle.step(evaluateRules(gone, DEFAULT_ALERT_THRESHOLDS), [alert], t);
      assert.deepEqual(
        steps
          .filter((s) => s.kind !== 'fire' || s.condition.rule !== 'delivery_delay')
          .map((s) => s.kind),
        ['update'],
      );
    }
  });

  test('provider failing: an error rate above 20% needs at least 20 attempts', () => {
    assert.deepEqual(rules(facts({ providers: [provider({ attempts: 10, failures: 10 })] })), []);
    assert.deepEqual(rules(facts({ providers: [provider({ attempts: 100, failures: 20 })] })), []);
    const high = evaluateRules(
      facts({
        providers: [
          provider({
            attempts: 100,
            failures: 21,
            topErrors: [{ errorClass: 'http_500', count: 21, sample: 'Internal' }],
          }),
        ],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.equal(high[0]?.key, 'provider_failing:sendgrid');
    assert.equal(high[0]?.evidence.details.error_rate, 0.21);
    assert.equal(high[0]?.evidence.topErrors[0]?.sample, 'Internal');
    assert.equal(high[0]?.fault, 'provider');
    assert.match(high[0]?.hint ?? '', /most failures are http_500/);
  });

  test('provider failing: messages the provider refused (400s) are not its failures', () => {
    // 40 of 100 attempts were refused for the message itself: the dead_letters alert's, per unit.
    assert.deepEqual(
      rules(facts({ providers: [provider({ attempts: 100, failures: 0, refused: 40 })] })),
      [],
    );
    // The timeouts of a short hang and the 400s of a bad batch, 10 of 22 attempts in all: 5 of
    // 22 were the provider's (23%), still above 20%. The refusals show in the evidence.
    const [mixed] = evaluateRules(
      facts({
        providers: [
          provider({
            attempts: 22,
            failures: 5,
            refused: 5,
            topErrors: [{ errorClass: 'UND_ERR_HEADERS_TIMEOUT', count: 5, sample: null }],
          }),
        ],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.match(mixed?.summary ?? '', /^provider sendgrid failed 5 of 22 attempts \(23%\)/);
    assert.equal(mixed?.fault, 'provider');
    assert.equal(mixed?.evidence.details.refused, 5);
    assert.equal(mixed?.keepsOnly, undefined, 'its newest attempts failed: it may open');
  });

  test('provider failing: an error rate whose failures are over keeps an open alert, opens none', () => {
    // The failures of a short outage, then re-sends that all succeeded: the rate over the window
    // is still above 20%, but the provider answers now.
    const over = provider({
      attempts: 22,
      failures: 5,
      topErrors: [{ errorClass: 'UND_ERR_HEADERS_TIMEOUT', count: 5, sample: null }],
      latestFailed: false,
    });
    const [condition] = evaluateRules(facts({ providers: [over] }), DEFAULT_ALERT_THRESHOLDS) as [
      AlertCondition,
    ];
    assert.equal(condition.keepsOnly, true);
    const options = { forMs: 15_000, repeatMs: 3600_000 };
    // Nothing open: it never fires, however long it holds.
    const quiet = new AlertLifecycle(options);
    for (let t = NOW; t <= NOW + 5 * MIN; t += 15_000) {
      assert.deepEqual(quiet.step([condition], [], t), []);
    }
    // Open while the failures came (holding for TEGAMI_ALERT_FOR_S): it fires all the same.
    const failing = { ...condition, keepsOnly: undefined };
    const holding = new AlertLifecycle(options);
    assert.deepEqual(holding.step([failing], [], NOW), []);
    assert.deepEqual(
      holding.step([condition], [], NOW + 15_000).map((s) => s.kind),
      ['fire'],
    );
    // Firing: kept while the window holds the failures, resolved once it does not.
    const firing = firingAlert(failing, NOW);
    const kept = new AlertLifecycle(options);
    assert.deepEqual(
      kept.step([condition], [firing], NOW + MIN).map((s) => s.kind),
      ['update'],
    );
    kept.step([], [firing], NOW + 2 * MIN);
    assert.deepEqual(
      kept.step([], [firing], NOW + 2 * MIN + 15_000).map((s) => s.kind),
      ['resolve'],
    );
  });

  test('provider failing: no error-rate page while throttled; the throttling pages after its time', () => {
    // 429s for 4 minutes: every probe failed. Not yet TEGAMI_ALERT_THROTTLED_S (10 minutes).
    assert.deepEqual(
      rules(
        facts({
          providers: [
            provider({
              state: 'throttled',
              since: NOW - 4 * MIN,
              attempts: 179,
              failures: 47,
              topErrors: [{ errorClass: 'http_429', count: 47, sample: 'too many requests' }],
            }),
          ],
        }),
      ),
      [],
    );
  });

  test('provider failing: the top errors are those of this incident, not of an outage before it', () => {
    const report = (
      state: 'healthy' | 'paused',
      since: number,
      recentErrors: { errorClass: string; count: number; lastAt: number }[],
    ): ProviderHealthReport => ({
      provider: 'sendgrid',
      reporter: 'w1',
      updatedAt: NOW,
      snapshot: {
        state,
        reason: state === 'paused' ? 'http_401: The provided authorization grant is invalid' : null,
        since,
        nextCheckAt: null,
        consecutiveFailures: 0,
        accepted: 0,
        failed: 0,
        providerFailed: 0,
        recentErrors: recentErrors.map((e) => ({ ...e, lastDetail: e.errorClass })),
        credentials: null,
        answeredAt: null,
        failedProbeSentAt: null,
      },
    });
    const window = { now: NOW, ms: 5 * MIN };
    // An outage (503s) ended 2 minutes ago; since then a wave of 400s (one application's bad
    // mail, which the circuit does not list) fails 117 of 416 attempts.
    const [healthy] = providerFacts(
      [
        report('healthy', NOW - 2 * MIN, [
          { errorClass: 'http_503', count: 62, lastAt: NOW - 3 * MIN },
        ]),
      ],
      'sendgrid',
      null,
      window,
    );
    assert.deepEqual(healthy?.topErrors, []);
    // The wave of 400s is no provider failure: dead_letters tells it, per unit.
    assert.deepEqual(
      rules(
        facts({
          providers: [{ ...(healthy as ProviderFacts), attempts: 416, failures: 0, refused: 117 }],
        }),
      ),
      [],
    );
    // A few timeouts in it: the hint names them, not the outage before.
    const [flaky] = evaluateRules(
      facts({
        providers: [
          {
            ...(healthy as ProviderFacts),
            attempts: 416,
            failures: 90,
            refused: 117,
            latestFailed: true,
          },
        ],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.equal(flaky?.fault, 'provider');
    assert.doesNotMatch(flaky?.hint ?? '', /http_503/);
    // A revoked key after a throttling and timeouts: the 401 is named, the rest is history.
    const [paused] = providerFacts(
      [
        report('paused', NOW - 30_000, [
          { errorClass: 'http_429', count: 160, lastAt: NOW - 6 * MIN },
          { errorClass: 'UND_ERR_HEADERS_TIMEOUT', count: 76, lastAt: NOW - 2 * MIN },
          { errorClass: 'http_401', count: 1, lastAt: NOW - 30_000 },
        ]),
      ],
      'sendgrid',
      null,
      window,
    );
    assert.deepEqual(
      paused?.topErrors.map((e) => e.errorClass),
      ['http_401'],
    );
    const [alert] = evaluateRules(
      facts({ providers: [paused as ProviderFacts] }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.match(alert?.hint ?? '', /POST \/v1\/providers\/sendgrid\/probe/);
  });

  test('dead letters above the threshold, with whose fault', () => {
    const refused = unit({
      deadLetters: 2,
      deadLetterErrors: [{ errorClass: 'http_400', count: 2, sample: null }],
      firstDeadLetterAt: NOW - 2 * MIN,
    });
    const [c] = evaluateRules(facts({ units: [refused] }), DEFAULT_ALERT_THRESHOLDS);
    assert.equal(c?.rule, 'dead_letters');
    assert.equal(c?.fault, 'message');
    assert.equal(c?.evidence.since, NOW - 2 * MIN, 'since when the first of them failed');
    const byProvider = unit({ deadLetters: 2, deadLettersProviderFault: true });
    assert.equal(
      evaluateRules(facts({ units: [byProvider] }), DEFAULT_ALERT_THRESHOLDS)[0]?.fault,
      'provider',
    );
    assert.deepEqual(
      rules(facts({ units: [refused] }), new Map([['unit_A', { deadLetters: 5 }]])),
      [],
    );
  });

  test('dead letters: while it fires, Since stays its first dead letter as the window slides', () => {
    const condition = (firstDeadLetterAt: number) => {
      const [c] = evaluateRules(
        facts({ units: [unit({ deadLetters: 2, firstDeadLetterAt })] }),
        DEFAULT_ALERT_THRESHOLDS,
      );
      assert.ok(c);
      return c;
    };
    const fired = condition(NOW - 4 * MIN).evidence;
    // Five minutes later the first ones have left the window; newer ones keep it firing.
    const later = condition(NOW + MIN);
    assert.equal(evidenceWhileFiring('dead_letters', fired, later.evidence).since, NOW - 4 * MIN);
    assert.equal(evidenceWhileFiring('dead_letters', fired, later.evidence).count, 2);
    // Other rules' Since is what holds now (the oldest late message today, the provider's state).
    const delay = { ...fired, since: NOW - 30 * MIN };
    assert.equal(evidenceWhileFiring('delivery_delay', delay, { ...delay, since: NOW }).since, NOW);
  });

  test('silent event webhook and unconfirmed mail only where events can arrive', () => {
    const silent = {
      lastEventAt: NOW - 60 * MIN,
      acceptedSinceLastEvent: 40,
      firstAcceptedSinceLastEvent: NOW - 16 * MIN,
    };
    assert.deepEqual(rules(facts(silent)), []);
    assert.deepEqual(rules(facts({ ...silent, eventsExpected: true })), [
      'silent_event_webhook:sendgrid',
    ]);
    assert.deepEqual(
      rules(
        facts({ ...silent, eventsExpected: true, firstAcceptedSinceLastEvent: NOW - 14 * MIN }),
      ),
      [],
    );
    const u = unit({ unconfirmed: 3 });
    assert.deepEqual(rules(facts({ units: [u] })), []);
    assert.deepEqual(rules(facts({ units: [u], eventsExpected: true })), ['unconfirmed:unit_A']);
  });

  test('counts in words: "1 message", "2 messages", never "message(s)"', () => {
    assert.equal(count(1, 'message'), '1 message');
    assert.equal(count(0, 'message'), '0 messages');
    assert.equal(count(1889, 'message'), '1,889 messages');
    assert.equal(count(1, 'entry', 'entries'), '1 entry');
    assert.equal(
      count(2, 'unsent message matches', 'unsent messages match'),
      '2 unsent messages match',
    );
    assert.equal(oneOrMany(1, 'is', 'are'), 'is');
    const summaries = (n: number) => {
      const conditions = evaluateRules(
        facts({
          eventsExpected: true,
          acceptedSinceLastEvent: n,
          firstAcceptedSinceLastEvent: NOW - 20 * MIN,
          units: [
            unit({
              pending: n,
              oldestPendingSince: NOW - 20 * MIN,
              deadLetters: n,
              unconfirmed: n,
            }),
          ],
        }),
        { ...DEFAULT_ALERT_THRESHOLDS, deadLetters: 0, unconfirmed: 0 },
      );
      assert.deepEqual(conditions.map((c) => c.rule).sort(), [
        'dead_letters',
        'delivery_delay',
        'silent_event_webhook',
        'unconfirmed',
      ]);
      return conditions.map((c) => c.summary);
    };
    for (const summary of summaries(1)) {
      assert.match(summary, /^1 message (of unit hotel |accepted )/, summary);
    }
    for (const summary of summaries(2)) {
      assert.match(summary, /^2 messages (of unit hotel |accepted )/, summary);
    }
    const many = [...summaries(1), ...summaries(2), ...summaries(1234)];
    assert.ok(!many.some((s) => s.includes('(s)')), many.join('\n'));
    assert.ok(summaries(1234).every((s) => s.startsWith('1,234 messages ')));
    // The provider's alert: its failed attempts, and one unit more.
    const [down] = evaluateRules(
      facts({
        providers: [provider({ attempts: 25, failures: 21 })],
        units: ['a', 'b', 'c', 'd', 'e', 'f'].map((name) =>
          unit({ unitId: `unit_${name}`, unitName: name, pending: 1, oldestPendingSince: NOW }),
        ),
      }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.match(
      down?.summary ?? '',
      /failed 21 of 25 attempts .*; 6 messages waiting \(a 1, b 1, c 1, d 1, e 1 and 1 more unit\)$/,
    );
    const slack = (evidence: Partial<AlertCondition['evidence']>, rule: AlertCondition['rule']) =>
      JSON.stringify(
        slackMessage({
          kind: 'firing',
          alert: {
            ...(down as AlertCondition),
            rule,
            evidence: { ...(down as AlertCondition).evidence, ...evidence },
            id: 'alt_1',
            state: 'firing',
            startedAt: NOW,
            endedAt: null,
            lastNotifiedAt: NOW,
            updatedAt: NOW,
          },
          unitName: null,
          publicUrl: null,
          now: NOW,
        }),
      );
    assert.ok(slack({ count: 1 }, 'dead_letters').includes('*How many*\\n1 message failed'));
    assert.ok(
      slack({ count: 1, details: { waiting_messages: 1 } }, 'provider_failing').includes(
        '*How many*\\n1 failed attempt; 1 message waiting',
      ),
    );
  });

  test("delivery delay: sends that timed out or lost their connection are the provider's", () => {
    // Too few in a row to open the circuit, so the provider is still `healthy`; the late mail
    // waits in unknown_outcome (timed out) or was refused a connection. Not the message's fault.
    for (const errorClass of ['UND_ERR_HEADERS_TIMEOUT', 'ECONNRESET', 'abandoned']) {
      const [c] = evaluateRules(
        facts({
          units: [
            unit({
              pending: 1,
              oldestPendingSince: NOW - 20 * MIN,
              pendingByReason: { unknown_outcome: 1 },
              pendingErrors: [{ errorClass, count: 1, sample: null }],
            }),
          ],
        }),
        DEFAULT_ALERT_THRESHOLDS,
      );
      assert.equal(c?.fault, 'provider', errorClass);
    }
  });
});

function condition(key = 'delivery_delay:unit_A'): AlertCondition {
  return evaluateRules(
    facts({ units: [unit({ pending: 1, oldestPendingSince: NOW - 20 * MIN })] }),
    DEFAULT_ALERT_THRESHOLDS,
  ).map((c) => ({ ...c, key }))[0] as AlertCondition;
}

function firingAlert(c: AlertCondition, at: number): Alert {
  return {
    id: 'alt_1',
    key: c.key,
    rule: c.rule,
    severity: c.severity,
    state: 'firing',
    unitId: c.unitId,
    provider: c.provider,
    fault: c.fault,
    summary: c.summary,
    hint: c.hint,
    evidence: c.evidence,
    startedAt: at,
    endedAt: null,
    lastNotifiedAt: at,
    updatedAt: at,
  };
}

describe('alert lifecycle: for, flaps, repeats, resolution', () => {
  const options = { forMs: 30_000, repeatMs: 3600_000 };

  test('a condition fires only after holding for `for`', () => {
    const life = new AlertLifecycle(options);
    const c = condition();
    assert.deepEqual(life.step([c], [], NOW), []);
    assert.deepEqual(life.step([c], [], NOW + 15_000), []);
    assert.deepEqual(
      life.step([c], [], NOW + 30_000).map((s) => s.kind),
      ['fire'],
    );
  });

  test('a flap shorter than `for` pages nobody, and starts counting again', () => {
    const life = new AlertLifecycle(options);
    const c = condition();
    life.step([c], [], NOW);
    life.step([], [], NOW + 20_000);
    assert.deepEqual(life.step([c], [], NOW + 40_000), [], 'counting started again');
    assert.deepEqual(
      life.step([c], [], NOW + 70_000).map((s) => s.kind),
      ['fire'],
    );
  });

  test('a firing alert resolves only after its condition is gone for `for`; a blip keeps it', () => {
    const life = new AlertLifecycle(options);
    const c = condition();
    const alert = firingAlert(c, NOW);
    assert.deepEqual(life.step([], [alert], NOW + 1_000), []);
    // Back before `for` passed: still the same alert, no resolution, no new page.
    assert.deepEqual(
      life.step([c], [alert], NOW + 10_000).map((s) => s.kind),
      ['update'],
    );
    assert.deepEqual(life.step([], [alert], NOW + 20_000), []);
    assert.deepEqual(
      life.step([], [alert], NOW + 50_000).map((s) => s.kind),
      ['resolve'],
    );
  });

  test('a lasting alert is notified again every repeat period', () => {
    const life = new AlertLifecycle(options);
    const c = condition();
    const alert = firingAlert(c, NOW);
    const early = life.step([c], [alert], NOW + 10 * MIN)[0];
    assert.equal(early?.kind === 'update' && early.notify, null);
    const later = life.step([c], [alert], NOW + 61 * MIN)[0];
    assert.equal(later?.kind === 'update' && later.notify, 'repeat');
  });

  test('an alert that gets worse is notified at once as escalated, not at the next repeat', () => {
    const providerCondition = (p: Partial<ProviderFacts>) =>
      evaluateRules(
        facts({ units: [], providers: [provider(p)] }),
        DEFAULT_ALERT_THRESHOLDS,
      )[0] as AlertCondition;
    const flaky = providerCondition({ attempts: 100, failures: 35, since: NOW });
    assert.equal(flaky.severity, 'warning');
    const down = providerCondition({ state: 'unavailable', since: NOW, failures: 50 });
    const paused = providerCondition({ state: 'paused', since: NOW, reason: 'http_401' });
    const step = (alert: Alert, c: AlertCondition) => {
      const [only] = new AlertLifecycle(options).step([c], [alert], NOW + MIN);
      return only?.kind === 'update' ? only.notify : only?.kind;
    };
    // Failing some attempts, then all of them: warning to critical.
    assert.equal(step(firingAlert(flaky, NOW), down), 'escalated');
    // An outage (which passes by itself), then an account problem (which does not).
    assert.equal(step(firingAlert(down, NOW), paused), 'escalated');
    assert.match(paused.hint, /fix it at the provider/);
    // No better or no different: updated quietly until the repeat period.
    assert.equal(step(firingAlert(paused, NOW), paused), null);
    assert.equal(step(firingAlert(down, NOW), down), null);
    assert.equal(step(firingAlert(paused, NOW), down), null);
    assert.equal(step(firingAlert(down, NOW), flaky), null);

    // Flapping (the stored alert takes each round's severity): escalated once, not at every flip.
    const life = new AlertLifecycle(options);
    const round = (stored: AlertCondition, c: AlertCondition, at: number) => {
      const [only] = life.step([c], [firingAlert(stored, NOW)], at);
      return only?.kind === 'update' ? only.notify : only?.kind;
    };
    assert.deepEqual(
      [
        round(flaky, down, NOW + MIN),
        round(down, flaky, NOW + 2 * MIN),
        round(flaky, down, NOW + 3 * MIN),
        round(down, paused, NOW + 4 * MIN),
        round(paused, down, NOW + 5 * MIN),
        round(down, paused, NOW + 6 * MIN),
      ],
      ['escalated', null, null, 'escalated', null, null],
    );
  });

  test("late mail a dead worker was sending is Tegami's fault, not the message's", () => {
    const [late] = evaluateRules(
      facts({
        units: [
          unit({
            pending: 3,
            oldestPendingSince: NOW - 20 * MIN,
            pendingByReason: { unknown_outcome: 3 },
            pendingErrors: [{ errorClass: 'worker_lost', count: 3, sample: null }],
          }),
        ],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.equal(late?.fault, 'tegami');
    assert.match(late?.hint ?? '', /a worker stopped/);
  });

  test("a unit's late mail behind a paused provider says to fix the account, not to wait", () => {
    const [late] = evaluateRules(
      facts({
        units: [unit({ pending: 1, oldestPendingSince: NOW - 20 * MIN })],
        providers: [provider({ state: 'paused', reason: 'http_401: key revoked', since: NOW })],
      }),
      DEFAULT_ALERT_THRESHOLDS,
    ).filter((c) => c.rule === 'delivery_delay');
    assert.ok(late);
    assert.match(
      late.hint,
      /does not pass by itself: fix it at the provider, then POST \/v1\/providers\/sendgrid\/probe/,
    );
    assert.doesNotMatch(late.hint, /drains by itself/);
  });
});

describe('alert notifications', () => {
  const c = condition();
  const alert: Alert = {
    ...firingAlert(c, NOW),
    evidence: {
      ...c.evidence,
      topErrors: [
        {
          errorClass: 'http_400',
          count: 3,
          sample: 'The from <address> does not match a verified Sender Identity. <!channel>',
        },
      ],
    },
  };
  const notice = {
    kind: 'firing' as const,
    alert,
    unitName: 'hotel',
    publicUrl: 'https://tegami.example/',
    now: NOW,
  };

  test("Slack: what, how many, since when, whose fault, the provider's words, a link", () => {
    const m = slackMessage(notice) as { text: string; blocks: unknown[] };
    const text = JSON.stringify(m);
    assert.match(m.text, /^FIRING \[critical\] delivery_delay \(unit hotel\)/);
    assert.match(text, /How many/);
    assert.match(text, /Whose fault/);
    assert.match(text, /does not match a verified Sender Identity/);
    // Slack markup in an error text is shown, not acted on (no @channel from a provider's words).
    assert.ok(!text.includes('<!channel>'));
    assert.ok(text.includes('&lt;!channel&gt;'));
    assert.equal(consoleLink(notice), 'https://tegami.example/console/unsent?q=unit%3Ahotel');
    assert.ok(text.includes('https://tegami.example/console/unsent?q=unit%3Ahotel'));
    // The hint speaks the API; the console's view of the same mail is under it, in words too.
    assert.ok(
      text.includes(
        'In the console: <https://tegami.example/console/unsent?q=unit%3Ahotel|https://tegami.example/console/unsent?q=unit%3Ahotel>',
      ),
    );
    assert.ok(
      !JSON.stringify(slackMessage({ ...notice, publicUrl: null })).includes('In the console'),
    );
    const resolved = slackMessage({
      ...notice,
      kind: 'resolved',
      alert: { ...alert, state: 'resolved', endedAt: NOW + MIN },
    });
    assert.match((resolved as { text: string }).text, /^RESOLVED delivery_delay/);
    assert.match(JSON.stringify(resolved), /\*Ended\*\\n[^"]+, after 60 s/);
    assert.equal(consoleLink({ ...notice, publicUrl: null }), null);
  });

  test("dead letters: Slack's what to do is the API's step, with the console's way under it", () => {
    const [c] = evaluateRules(
      facts({ units: [unit({ deadLetters: 2, firstDeadLetterAt: NOW - MIN })] }),
      DEFAULT_ALERT_THRESHOLDS,
    );
    assert.equal(c?.rule, 'dead_letters');
    assert.equal(c?.hint, API_STEP_HINTS.deadLetters);
    const text = JSON.stringify(
      slackMessage({ ...notice, alert: firingAlert(c as AlertCondition, NOW) }),
    );
    assert.ok(
      text.includes(
        '*What to do*\\nfind them with GET /v1/unsent?reason=failed; once the cause is fixed, recover them with POST /v1/recoveries (dry run first)\\nIn the console: <https://tegami.example/console/unsent?q=unit%3Ahotel+reason%3Afailed|',
      ),
      text,
    );
  });

  test('the alert webhook carries the alert as JSON', () => {
    const body = alertWebhookPayload(notice) as { type: string; alert: Record<string, unknown> };
    assert.equal(body.type, 'alert.firing');
    assert.equal(body.alert.unit, 'hotel');
    assert.equal(body.alert.fault, 'tegami');
  });

  test('Slack URLs: checked and masked', () => {
    assert.equal(slackUrlProblem('https://hooks.slack.com/services/T/B/x'), null);
    assert.match(slackUrlProblem('ftp://x') ?? '', /https/);
    assert.match(slackUrlProblem('https://user:pw@hooks.slack.com/x') ?? '', /password/);
    assert.match(slackUrlProblem('not a url') ?? '', /not a URL/);
    // The environment's alert URLs (TEGAMI_ALERT_WEBHOOK_URL, …) are held to this rule too.
    assert.match(slackUrlProblem('https://hooks.slack.com:0/services/x') ?? '', /port 0/);
    assert.match(slackUrlProblem('http://1.1.1.1:00/x') ?? '', /port 0/, 'spelled 00');
    assert.equal(slackUrlProblem('https://hooks.slack.com:443/services/x'), null);
    assert.equal(
      maskUrl('https://hooks.slack.com/services/T0/B0/secret'),
      'https://hooks.slack.com/services/…',
    );
  });
});

describe('provider error rates from the workers’ counters', () => {
  const report = (
    reporter: string,
    accepted: number,
    failed: number,
    providerFailed = failed,
  ): ProviderHealthReport => ({
    provider: 'sendgrid',
    reporter,
    updatedAt: 0,
    snapshot: {
      state: 'healthy',
      reason: null,
      since: 0,
      nextCheckAt: null,
      consecutiveFailures: 0,
      accepted,
      failed,
      providerFailed,
      recentErrors: [],
      credentials: null,
      answeredAt: null,
      failedProbeSentAt: null,
    },
  });

  test('differences over the window, per worker, across a restart', () => {
    const rates = new ProviderRates();
    const window = 5 * MIN;
    rates.observe([report('w1', 100, 10), report('w2', 50, 0)], NOW, window);
    rates.observe([report('w1', 150, 30), report('w2', 5, 2)], NOW + MIN, window);
    // w1: 50 accepted + 20 failed; w2 restarted: its counters count from zero.
    assert.deepEqual(rates.window('sendgrid'), {
      attempts: 77,
      failures: 22,
      refused: 0,
      latestFailed: true,
    });
    // Counting from a later point leaves the earlier differences out. The newest attempts
    // succeeded: the failures are over.
    rates.observe([report('w1', 160, 30), report('w2', 6, 2)], NOW + 2 * MIN, window);
    assert.deepEqual(rates.window('sendgrid', NOW + MIN), {
      attempts: 11,
      failures: 0,
      refused: 0,
      latestFailed: false,
    });
    assert.equal(rates.window('sendgrid').latestFailed, false);
    // Samples older than the window fall out.
    rates.observe([report('w1', 170, 30)], NOW + 9 * MIN, window);
    assert.deepEqual(rates.window('sendgrid').failures, 0);
  });

  test('refusals of a message are attempts, not failures; the newest attempts decide whether it fails now', () => {
    const rates = new ProviderRates();
    const window = 5 * MIN;
    rates.observe([report('w1', 7, 0)], NOW, window);
    // 5 messages refused (400), then 5 sends that timed out in a hang.
    rates.observe([report('w1', 7, 5, 0)], NOW + 15_000, window);
    rates.observe([report('w1', 7, 10, 5)], NOW + 30_000, window);
    assert.deepEqual(rates.window('sendgrid'), {
      attempts: 10,
      failures: 5,
      refused: 5,
      latestFailed: true,
    });
    // Rounds with no attempts do not hide the failures: they are still the newest attempts.
    rates.observe([report('w1', 7, 10, 5)], NOW + 45_000, window);
    assert.equal(rates.window('sendgrid').latestFailed, true);
    // Two minutes later the re-sends go out: the newest attempts succeeded.
    rates.observe([report('w1', 12, 10, 5)], NOW + 150_000, window);
    assert.deepEqual(rates.window('sendgrid'), {
      attempts: 15,
      failures: 5,
      refused: 5,
      latestFailed: false,
    });
    // Another worker still failing is enough.
    rates.observe([report('w1', 12, 10, 5), report('w2', 0, 0)], NOW + 165_000, window);
    rates.observe([report('w1', 12, 10, 5), report('w2', 3, 2)], NOW + 180_000, window);
    assert.equal(rates.window('sendgrid').latestFailed, true);
  });
});

describe('metrics while the database is away', () => {
  test('a scrape still answers, with the process metrics and tegami_database_up 0', async () => {
    const { createMetrics } = await import('../src/ops/metrics/registry.ts');
    const away = () => Promise.reject(new Error('connection refused'));
    const metrics = createMetrics({
      queries: {
        pending: away,
        deadLettersSince: away,
        unconfirmedByUnit: away,
        errorSample: away,
        lastEventAt: away,
        acceptedUnconfirmedAfter: away,
        countByStatusAndUnit: away,
      },
      health: { report: away, remove: away, list: away },
      listUnits: away,
      firingAlerts: away,
      unsentByReason: away,
      configuredProvider: 'sandbox',
      cacheMs: 0,
    });
    metrics.telemetry.attemptFinished({
      provider: 'sandbox',
      outcome: 'accepted',
      errorClass: null,
      durationMs: 12,
    });
    const { body } = await metrics.render();
    assert.match(body, /^tegami_database_up 0$/m);
    assert.match(
      body,
      /^tegami_provider_attempts_total\{provider="sandbox",outcome="accepted",error_class=""\} 1$/m,
    );
    assert.match(body, /^process_cpu_seconds_total /m);
    assert.doesNotMatch(body, /^tegami_messages\{/m);
  });

  // A disk-full drill (SQLite): writes failed for minutes while reads, and so tegami_database_up,
  // /readyz and the built-in alerts (stored in the database), all said nothing was wrong.
  test("tegami_database_operations_failing follows the process's outage log, reads or not", async () => {
    const { createMetrics } = await import('../src/ops/metrics/registry.ts');
    const { OutageLog } = await import('../src/ops/outage-log.ts');
    const outage = new OutageLog(pino({ level: 'silent' }));
    const none = async () => [];
    const metrics = createMetrics({
      queries: {
        pending: async () => ({ byUnit: [] }),
        deadLettersSince: none,
        unconfirmedByUnit: none,
        errorSample: none,
        lastEventAt: async () => null,
        acceptedUnconfirmedAfter: async () => 0,
        countByStatusAndUnit: none,
      } as never,
      health: { report: none, remove: none, list: none } as never,
      listUnits: none,
      firingAlerts: none,
      unsentByReason: async () => ({}),
      configuredProvider: 'sandbox',
      cacheMs: 0,
      databaseFailing: () => outage.failingNow,
    });
    const value = async () =>
      /^tegami_database_operations_failing (\d)$/m.exec((await metrics.render()).body)?.[1];
    assert.equal(await value(), '0');
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    outage.failed('storing messages', full);
    assert.equal(await value(), '1');
    outage.succeeded('storing messages');
    assert.equal(await value(), '0');
  });
});
