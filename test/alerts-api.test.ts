import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Alert } from '../src/domain/alerts/lifecycle.ts';
import { createApiKey } from '../src/domain/api-keys.ts';
import { createAlertStore } from '../src/store/alerts/index.ts';
import { SqlApiKeyStore, SqlUnitStore } from '../src/store/index.ts';
import { request, runTegami, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { firingAlert } from './support/alerts.ts';
import { startCaptureServer } from './support/capture-server.ts';

/**
 * The alerts' API: `GET /v1/alerts` (unit isolation, validation), a unit's alert settings
 * (`GET/PUT /v1/units/{id}`: admin only, the SSRF guard, the URL never shown), `GET /status`,
 * `GET /metrics` without a token, and `tegami alerts` / `tegami alerts test`.
 */
describe(`alerts API (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const keys: Record<string, string> = {};
  const unitIds: Record<string, string> = {};

  before(async () => {
    tegami = await startTestService({ TEGAMI_ALERT_INTERVAL_MS: '3600000' });
    const units = new SqlUnitStore(tegami.service.database);
    const apiKeys = new SqlApiKeyStore(tegami.service.database);
    for (const name of ['hotel', 'shop']) {
      assert.equal((await tegami.request('POST', '/v1/units', { name })).status, 201);
      unitIds[name] = (await units.findByName(name))?.id ?? '';
      keys[name] = (
        await createApiKey(apiKeys, `${name} app`, Date.now(), { unitId: unitIds[name] })
      ).key;
    }
  });
  after(async () => {
    await tegami.stop();
  });

  test('/status answers 200 until a critical alert fires, then 503; /metrics is open without a token', async () => {
    const ok = await fetch(`${tegami.url}/status`);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { status: 'ok', alerts_firing: { critical: 0, warning: 0 } });
    const metrics = await fetch(`${tegami.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /# TYPE tegami_messages gauge/);
  });

  test('GET /v1/alerts: a unit key sees its unit and provider-wide alerts, never another unit', async () => {
    const store = createAlertStore(tegami.service.database);
    const hotel = firingAlert({ key: 'delivery_delay:hotel', unitId: unitIds.hotel ?? '' });
    const shop = firingAlert({
      key: 'dead_letters:shop',
      rule: 'dead_letters',
      severity: 'warning',
      unitId: unitIds.shop ?? '',
    });
    const global = firingAlert({ key: 'provider_failing:sandbox', rule: 'provider_failing' });
    for (const a of [hotel, shop, global]) assert.equal(await store.open(a, []), true);
    assert.equal(
      await store.open({ ...hotel, id: `${hotel.id.slice(0, -1)}9` }, []),
      false,
      'one firing alert per key',
    );

    const seen = async (key: string, query = '') =>
      (
        (await request(tegami.url, 'GET', `/v1/alerts${query}`, undefined, {}, key)).body
          .data as Alert[]
      ).map((a) => a.id);
    assert.deepEqual((await seen(keys.hotel ?? '')).sort(), [hotel.id, global.id].sort());
    assert.deepEqual(await seen(keys.hotel ?? '', '?unit=shop'), []);
    assert.deepEqual(await seen(keys.hotel ?? '', '?unit=nosuch'), [], 'no hint that it exists');
    const unknown = await tegami.request('GET', '/v1/alerts?unit=nosuch');
    assert.equal(unknown.status, 400, 'an admin naming a unit that does not exist is told so');
    assert.equal(unknown.body.error.details[0].field, 'querystring.unit');
    assert.equal(
      unknown.body.error.details[0].message,
      'no unit is named "nosuch" (see GET /v1/units)',
      'the API points to its own list of units',
    );
    const admin = await tegami.request('GET', '/v1/alerts?state=firing');
    assert.equal(admin.body.data.length, 3);
    assert.equal(
      (admin.body.data as { id: string; unit: string | null }[]).find((a) => a.id === shop.id)
        ?.unit,
      'shop',
    );
    const other = await request(
      tegami.url,
      'GET',
      `/v1/alerts/${shop.id}`,
      undefined,
      {},
      keys.hotel,
    );
    assert.equal(other.status, 404);
    assert.equal((await tegami.request('GET', `/v1/alerts/${shop.id}`)).status, 200);
    // Paging.
    const first = await tegami.request('GET', '/v1/alerts?limit=2');
    assert.equal(first.body.data.length, 2);
    const rest = await tegami.request('GET', `/v1/alerts?limit=2&cursor=${first.body.next_cursor}`);
    assert.equal(rest.body.data.length, 1);

    const status = await fetch(`${tegami.url}/status`);
    assert.equal(status.status, 503);
    assert.deepEqual(await status.json(), {
      status: 'critical',
      alerts_firing: { critical: 2, warning: 1 },
    });

    // The CLI shows the same.
    const cli = await runTegami(['alerts', '--state', 'firing'], {
      TEGAMI_DATABASE_URL: tegami.databaseUrl,
    });
    assert.equal(cli.code, 0, cli.output);
    assert.match(cli.output, /RULE/);
    assert.match(cli.output, /provider_failing/);
    assert.match(cli.output, /shop/);
    // --json prints, one per line, each alert as the API shows it.
    const json = await runTegami(['alerts', '--state', 'firing', '--json'], {
      TEGAMI_DATABASE_URL: tegami.databaseUrl,
      TEGAMI_LOG_LEVEL: 'error',
    });
    assert.equal(json.code, 0, json.output);
    const firing = await tegami.request('GET', '/v1/alerts?state=firing');
    assert.equal(firing.body.data.length, 3);
    assert.deepEqual(
      json.output
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      firing.body.data,
    );
  });

  test("a provider's alert read with a unit key names no other unit and no other unit's mail", async () => {
    const store = createAlertStore(tegami.service.database);
    const now = Date.now();
    const outage = firingAlert({
      key: 'provider_failing:sendgrid-outage',
      rule: 'provider_failing',
      provider: 'sendgrid',
      state: 'resolved',
      endedAt: now,
      summary:
        'provider sendgrid is unavailable for 2 min: http_503: service unavailable; 1889 messages waiting (shop 1260, hotel 629)',
      evidence: {
        count: 12,
        threshold: 10,
        since: now,
        topErrors: [],
        provider: null,
        details: {
          attempts: 12,
          failures: 12,
          waiting_messages: 1889,
          waiting_units: 'shop 1260, hotel 629',
        },
      },
    });
    assert.equal(await store.open(outage, []), true);
    const read = async (key?: string) => {
      const list = await request(
        tegami.url,
        'GET',
        '/v1/alerts?state=resolved',
        undefined,
        {},
        key,
      );
      const one = await request(tegami.url, 'GET', `/v1/alerts/${outage.id}`, undefined, {}, key);
      assert.equal(one.status, 200);
      const listed = (list.body.data as { id: string }[]).find((a) => a.id === outage.id);
      assert.deepEqual(listed, one.body, 'the list and the alert say the same');
      return JSON.stringify(one.body);
    };
    const hotel = await read(keys.hotel);
    assert.doesNotMatch(hotel, /shop|1260|1889/, 'nothing of the other unit');
    assert.match(
      hotel,
      /provider sendgrid is unavailable for 2 min: http_503: service unavailable"/,
    );
    assert.match(hotel, /"failures":12/, 'the provider-wide evidence stays');
    // An admin key (every unit) reads whose mail waits, as the person paged does.
    assert.match(await read(undefined), /1889 messages waiting \(shop 1260, hotel 629\)/);
  });

  test('GET /v1/alerts refuses bad queries with 400 and names the field', async () => {
    for (const [query, field] of [
      ['?limit=0', 'querystring.limit'],
      ['?cursor=bm9wZQ', 'querystring.cursor'],
      ['?after=yesterday', 'querystring.after'],
    ] as const) {
      const r = await tegami.request('GET', `/v1/alerts${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.body.error.details[0].field, field);
    }
    assert.equal((await tegami.request('GET', '/v1/alerts?state=burning')).status, 400);
    assert.equal((await tegami.request('GET', '/v1/alerts?rule=nope')).status, 400);
  });

  test("PUT /v1/units/{id}: admins set a unit's Slack channel and thresholds; the URL is never shown", async () => {
    const before = await tegami.request('GET', '/v1/units/hotel');
    assert.equal(before.status, 200);
    assert.deepEqual(before.body.alerts, { slack_webhook_url: null, thresholds: {} });

    const byUnitKey = await request(
      tegami.url,
      'PUT',
      '/v1/units/hotel',
      { alerts: { delay_s: 60 } },
      {},
      keys.hotel,
    );
    assert.equal(byUnitKey.status, 403);
    const otherUnit = await request(tegami.url, 'GET', '/v1/units/shop', undefined, {}, keys.hotel);
    assert.equal(otherUnit.status, 404);
    assert.equal((await tegami.request('PUT', '/v1/units/nosuch', { alerts: null })).status, 404);

    for (const body of [
      { slack_webhook_url: 'not a url' },
      { slack_webhook_url: 'http://127.0.0.1:9/hook' },
      { slack_webhook_url: 'http://169.254.169.254/latest' },
      { alerts: { delay_s: 0 } },
      { alerts: { loud: true } },
      { name: 'renamed' },
    ]) {
      const r = await tegami.request('PUT', '/v1/units/hotel', body);
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    // An empty change changes nothing and records nothing.
    const auditBefore = (await tegami.request('GET', '/v1/audit-events?action=unit.update')).body
      .data.length;
    for (const body of [{}, { alerts: {} }]) {
      const empty = await tegami.request('PUT', '/v1/units/hotel', body);
      assert.equal(empty.status, 200, JSON.stringify(empty.body));
      assert.equal(
        (await tegami.request('GET', '/v1/audit-events?action=unit.update')).body.data.length,
        auditBefore,
        JSON.stringify(body),
      );
    }
    // The problem inside the object is named, not the alternatives it was not (null).
    const wrongType = await tegami.request('PUT', '/v1/units/hotel', { alerts: { delay_s: 'x' } });
    assert.deepEqual(wrongType.body.error.details, [
      { field: 'alerts.delay_s', message: 'must be integer' },
    ]);
    const unknownInside = await tegami.request('PUT', '/v1/units/hotel', {
      alerts: { loud: true },
    });
    assert.deepEqual(unknownInside.body.error.details, [
      { field: 'alerts.loud', message: 'is not a known field' },
    ]);
    assert.deepEqual(
      (await tegami.request('GET', '/v1/units/hotel')).body.alerts,
      {
        slack_webhook_url: null,
        thresholds: {},
      },
      'a refused change changes nothing',
    );

    const secret = 'https://8.8.8.8/services/T000/B000/very-secret-token';
    const set = await tegami.request('PUT', `/v1/units/${unitIds.hotel}`, {
      slack_webhook_url: secret,
      alerts: { delay_s: 120, dead_letters: 3 },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.alerts.slack_webhook_url, 'https://8.8.8.8/services/…');
    assert.deepEqual(set.body.alerts.thresholds, { delay_s: 120, dead_letters: 3 });
    const merged = await tegami.request('PUT', '/v1/units/hotel', { alerts: { muted: true } });
    assert.deepEqual(merged.body.alerts.thresholds, { delay_s: 120, dead_letters: 3, muted: true });
    const cleared = await tegami.request('PUT', '/v1/units/hotel', {
      alerts: null,
      slack_webhook_url: null,
    });
    assert.deepEqual(cleared.body.alerts, { slack_webhook_url: null, thresholds: {} });

    const audit = await tegami.request('GET', '/v1/audit-events?action=unit.update');
    assert.equal(audit.body.data.length, 3);
    assert.ok(
      !JSON.stringify(audit.body).includes('very-secret-token'),
      'the URL is not in the audit log',
    );
  });

  test('tegami alerts test posts to every destination and says which answered', async () => {
    const slack = await startCaptureServer((_req, res) => {
      res.writeHead(200).end('ok');
    });
    const hook = await startCaptureServer((_req, res) => {
      res.writeHead(500).end('broken');
    });
    try {
      const none = await runTegami(['alerts', 'test'], { TEGAMI_DATABASE_URL: tegami.databaseUrl });
      assert.equal(none.code, 2, none.output);
      const r = await runTegami(['alerts', 'test'], {
        TEGAMI_DATABASE_URL: tegami.databaseUrl,
        TEGAMI_SLACK_WEBHOOK_URL: `${slack.url}/services/x`,
        TEGAMI_ALERT_WEBHOOK_URL: `${hook.url}/alerts`,
        TEGAMI_ALERT_WEBHOOK_SECRET: 'whsec',
      });
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /ok\s+Slack \(TEGAMI_SLACK_WEBHOOK_URL\)/);
      assert.match(r.output, /FAILED\s+alert webhook.*HTTP 500/);
      assert.match(JSON.parse(slack.captured[0]?.body ?? '{}').text, /^TEST/);
      assert.match(
        String(hook.captured[0]?.headers['tegami-webhook-signature']),
        /^v1=[0-9a-f]{64}$/,
      );
    } finally {
      await slack.close();
      await hook.close();
    }
  });
});
