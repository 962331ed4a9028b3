import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createUnitWithKey,
  message,
  queryDatabase,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { type Captured, startCaptureServer } from './support/capture-server.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * The talk's outage, told by the alerts: SendGrid starts failing while mail keeps coming; the
 * delay alert (per unit, to the unit's own Slack channel) and the provider alert (to the global
 * channel) arrive with SendGrid's own error text and whose fault it is; SendGrid recovers; every
 * message is sent with no action; the resolved notifications arrive; nothing is dead-lettered.
 * Thresholds are scaled down to seconds.
 */
const SG_KEY = 'SG.alerts-drill';

interface SlackMessage {
  text: string;
  blocks: { type: string; text?: { text: string }; fields?: { text: string }[] }[];
}

const slackOf = (c: Captured) => JSON.parse(c.body) as SlackMessage;
const allText = (m: SlackMessage) =>
  [
    m.text,
    ...m.blocks.flatMap((b) => [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)]),
  ].join('\n');

describe(`alerts drill: an outage reaches Slack and resolves by itself (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let tegami: TestService;
  let globalSlack: Awaited<ReturnType<typeof startCaptureServer>>;
  let hotelSlack: Awaited<ReturnType<typeof startCaptureServer>>;
  /** A muted unit's channel (maintenance): paged by nothing, its mail waiting or not. */
  let spaSlack: Awaited<ReturnType<typeof startCaptureServer>>;
  let hotelKey = '';
  let spaKey = '';
  const ok = (_req: Captured, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  };

  before(async () => {
    globalSlack = await startCaptureServer(ok);
    hotelSlack = await startCaptureServer(ok);
    spaSlack = await startCaptureServer(ok);
    setup = await startWithSimulator(SG_KEY, {
      TEGAMI_SENDGRID_TIMEOUT_MS: '400',
      TEGAMI_RETRY_MAX_ATTEMPTS: '2',
      TEGAMI_PROVIDER_FAILURE_THRESHOLD: '3',
      TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '200',
      TEGAMI_SLACK_WEBHOOK_URL: `${globalSlack.url}/services/T0/B0/global`,
      TEGAMI_PUBLIC_URL: 'https://tegami.example',
      // The unit's Slack stand-in listens on loopback.
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_ALERT_INTERVAL_MS: '200',
      TEGAMI_ALERT_FOR_S: '1',
      TEGAMI_ALERT_DELAY_S: '2',
      TEGAMI_ALERT_REPEAT_S: '3',
    });
    ({ tegami } = setup);
    hotelKey = (await createUnitWithKey(tegami, 'hotel')).key;
    const put = await tegami.request('PUT', '/v1/units/hotel', {
      slack_webhook_url: `${hotelSlack.url}/services/T0/B1/hotel`,
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.alerts.slack_webhook_url.includes('hotel'), false, 'the URL is masked');
    spaKey = (await createUnitWithKey(tegami, 'spa')).key;
    const muted = await tegami.request('PUT', '/v1/units/spa', {
      slack_webhook_url: `${spaSlack.url}/services/T0/B2/spa`,
      alerts: { muted: true },
    });
    assert.equal(muted.status, 200, JSON.stringify(muted.body));
  });
  after(async () => {
    await setup.stop();
    await globalSlack.close();
    await hotelSlack.close();
    await spaSlack.close();
  });

  const messagesIn = (slack: typeof globalSlack, pattern: RegExp) =>
    slack.captured.map(slackOf).filter((m) => pattern.test(m.text));

  test('delay and provider alerts fire with the evidence, repeat, and resolve', async () => {
    const outage = await setup.control('POST', '/outage', { mode: '503', durationMs: 120_000 });
    assert.equal(outage.status, 200);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await request(
        tegami.url,
        'POST',
        '/v1/messages',
        message({ subject: `hotel ${i}` }),
        {},
        hotelKey,
      );
      assert.equal(r.status, 202);
      ids.push(r.body.id);
    }
    const spa = await request(tegami.url, 'POST', '/v1/messages', message(), {}, spaKey);
    assert.equal(spa.status, 202);
    ids.push(spa.body.id);
    for (let i = 0; i < 2; i++) {
      const r = await tegami.request('POST', '/v1/messages', message({ subject: `default ${i}` }));
      assert.equal(r.status, 202);
      ids.push(r.body.id);
    }

    // The provider alert goes to the global channel, the hotel's delay alert to the hotel's.
    const providerFiring = await waitFor(
      async () => messagesIn(globalSlack, /^FIRING \[critical\] provider_failing/)[0],
      'the provider alert in the global Slack channel',
      30_000,
    );
    const hotelDelay = await waitFor(
      async () => messagesIn(hotelSlack, /^FIRING \[critical\] delivery_delay \(unit hotel\)/)[0],
      "the hotel's delay alert in the hotel's Slack channel",
      30_000,
    );
    await waitFor(
      async () =>
        messagesIn(globalSlack, /^FIRING \[critical\] delivery_delay \(unit default\)/)[0],
      "the default unit's delay alert in the global channel",
      30_000,
    );
    assert.equal(
      messagesIn(globalSlack, /delivery_delay \(unit hotel\)/).length,
      0,
      "the hotel's alerts do not go to the global channel",
    );
    // The hotel's own channel hears of the provider at once too, with its own mail only.
    const hotelProvider = await waitFor(
      async () =>
        messagesIn(hotelSlack, /^FIRING \[critical\] provider_failing \(sendgrid; unit hotel\)/)[0],
      "the provider alert in the hotel's Slack channel",
      30_000,
    );
    assert.match(allText(hotelProvider), /4 messages of unit hotel waiting/);
    assert.match(allText(hotelProvider), /Whose mail waits\*\nhotel 4/);
    assert.doesNotMatch(allText(hotelProvider), /default/, "nothing of the other unit's mail");
    assert.match(allText(providerFiring), /7 messages waiting \(hotel 4, default 2, spa 1\)/);

    // The evidence: SendGrid's own words (as recorded on the attempt), whose fault, a link.
    const held = await request(
      tegami.url,
      'GET',
      `/v1/messages/${ids[0]}`,
      undefined,
      {},
      hotelKey,
    );
    const attempt = held.body.attempts[held.body.attempts.length - 1];
    assert.ok(attempt, 'the message was tried');
    const providerWords: string =
      attempt.provider_errors?.[0]?.message ?? attempt.response_excerpt ?? attempt.detail;
    assert.ok(providerWords, 'the attempt recorded what SendGrid said');
    const words = [allText(providerFiring), allText(hotelDelay)].join('\n');
    assert.ok(
      words.includes(attempt.error_class),
      `the alerts name the error class ${attempt.error_class}:\n${words}`,
    );
    assert.match(
      allText(hotelDelay),
      /Whose fault\*\n the provider's|Whose fault\*\nthe provider's/,
    );
    assert.match(allText(providerFiring), /sendgrid: unavailable/);
    const link = hotelDelay.blocks
      .flatMap((b) => (b as { elements?: { url?: string }[] }).elements ?? [])
      .map((e) => e.url)
      .find(Boolean);
    assert.equal(link, 'https://tegami.example/console/unsent?q=unit%3Ahotel');

    // The API says the same, with the unit.
    const firing = await tegami.request('GET', '/v1/alerts?state=firing');
    assert.equal(firing.status, 200);
    const rules = (firing.body.data as { rule: string; unit: string | null }[]).map(
      (a) => `${a.rule}:${a.unit ?? '-'}`,
    );
    assert.ok(rules.includes('provider_failing:-'), rules.join(', '));
    assert.ok(rules.includes('delivery_delay:hotel'), rules.join(', '));
    const status = await fetch(`${tegami.url}/status`);
    assert.equal(status.status, 503, 'a critical alert makes /status answer 503');
    const ready = await fetch(`${tegami.url}/readyz`);
    assert.equal(ready.status, 200, '/readyz keeps the API in rotation during the outage');
    // A unit key sees its unit's alerts and the provider's, not the default unit's.
    const hotelView = await request(tegami.url, 'GET', '/v1/alerts', undefined, {}, hotelKey);
    const hotelRules = (hotelView.body.data as { unit: string | null }[]).map((a) => a.unit);
    assert.ok(!hotelRules.includes('default'), hotelRules.join(', '));

    // While it lasts, it is repeated every TEGAMI_ALERT_REPEAT_S.
    await waitFor(
      async () => messagesIn(globalSlack, /^STILL FIRING \[critical\] provider_failing/)[0],
      'a repeat of the provider alert',
      20_000,
    );

    // SendGrid recovers: everything is sent with no action, and the alerts resolve.
    await setup.control('DELETE', '/outage');
    await waitFor(
      async () => {
        const r = await tegami.request('GET', '/v1/messages?status=sent&limit=100');
        const sent = new Set((r.body.data as { id: string }[]).map((m) => m.id));
        return ids.every((id) => sent.has(id));
      },
      'every message sent after the outage',
      30_000,
      100,
    );
    await waitFor(
      async () => messagesIn(globalSlack, /^RESOLVED provider_failing/)[0],
      'the provider alert resolved',
      30_000,
    );
    await waitFor(
      async () => messagesIn(hotelSlack, /^RESOLVED delivery_delay \(unit hotel\)/)[0],
      "the hotel's delay alert resolved in its channel",
      30_000,
    );
    await waitFor(
      async () => messagesIn(hotelSlack, /^RESOLVED provider_failing \(sendgrid; unit hotel\)/)[0],
      "the provider alert resolved in the hotel's channel",
      30_000,
    );
    await waitFor(
      async () => messagesIn(globalSlack, /^RESOLVED delivery_delay \(unit default\)/)[0],
      "the default unit's delay alert resolved",
      30_000,
    );
    assert.deepEqual(
      spaSlack.captured.map((c) => slackOf(c).text),
      [],
      "a muted unit's channel is paged by nothing, not even the provider's alert",
    );
    const failed = await tegami.request('GET', '/v1/messages?status=failed');
    assert.equal(failed.body.data.length, 0, 'nothing was dead-lettered');
    assert.equal((await fetch(`${tegami.url}/status`)).status, 200, 'no critical alert fires');

    // One page per alert: each fired exactly once and resolved exactly once.
    for (const [slack, pattern] of [
      [globalSlack, /^FIRING \[critical\] provider_failing/],
      [hotelSlack, /^FIRING \[critical\] delivery_delay \(unit hotel\)/],
      [hotelSlack, /^RESOLVED delivery_delay \(unit hotel\)/],
      [globalSlack, /^RESOLVED provider_failing/],
      [hotelSlack, /^FIRING \[critical\] provider_failing \(sendgrid; unit hotel\)/],
      [hotelSlack, /^RESOLVED provider_failing \(sendgrid; unit hotel\)/],
    ] as const) {
      assert.equal(messagesIn(slack, pattern).length, 1, `exactly one ${pattern}`);
    }
    const history = await tegami.request('GET', '/v1/alerts?state=resolved');
    assert.ok(history.body.data.length >= 3);
    for (const a of history.body.data) assert.ok(a.ended_at, 'a resolved alert has its end');
  });
});

describe(`dead_letters in Slack: since when the first of them failed (${TEST_ENGINE})`, () => {
  test('its Since is when its first dead letter failed, not when the alert fired', async (t) => {
    const slack = await startCaptureServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    const tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_SLACK_WEBHOOK_URL: `${slack.url}/services/T0/B0/global`,
      TEGAMI_ALERT_INTERVAL_MS: '200',
      // The rule must hold this long before the alert fires: Since is that much earlier.
      TEGAMI_ALERT_FOR_S: '3',
    });
    t.after(async () => {
      await tegami.stop();
      await slack.close();
    });
    const failedAt = async (id: string) => {
      const [row] = await queryDatabase<{ failed_at: number | string | null }>(
        tegami.databaseUrl,
        'select failed_at from messages where id = ?',
        [id],
      );
      return row?.failed_at == null ? null : Number(row.failed_at);
    };
    const deadLetter = async () => {
      const r = await tegami.request(
        'POST',
        '/v1/messages',
        message({ to: [{ email: 'permanent@example.com' }] }),
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return waitFor(async () => failedAt(r.body.id), 'the message dead-lettered');
    };
    const first = await deadLetter();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = await deadLetter();
    assert.ok(second > first);

    const firing = await waitFor(
      async () =>
        slack.captured.map(slackOf).find((m) => /^FIRING .*dead_letters/.test(m.text)) ?? null,
      'the dead_letters alert in Slack',
      20_000,
    );
    const since = allText(firing).match(/\*Since\*\n(\S+)/)?.[1];
    assert.equal(since, new Date(first).toISOString(), allText(firing));
    const alerts = await tegami.request('GET', '/v1/alerts?rule=dead_letters');
    assert.equal(alerts.status, 200, JSON.stringify(alerts.body));
    const [alert] = alerts.body.data;
    assert.equal(alert.evidence.since, new Date(first).toISOString());
    assert.ok(
      Date.parse(alert.started_at) - first >= 3_000,
      `it fired ${Date.parse(alert.started_at) - first} ms after the first failure`,
    );
  });
});
