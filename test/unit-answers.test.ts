import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createOperations } from '../src/cli/wire-operations.ts';
import { buildApp } from '../src/http/app.ts';
import { createLogger } from '../src/ops/logger.ts';
import { SqlApiKeyStore, SqlMessageStore } from '../src/store/index.ts';
import { request, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';

/**
 * A unit has one shape in every answer (`GET /v1/units`, `POST /v1/units`, `GET /v1/units/{id}`):
 * with its settings, read from the database, whatever the API was built with. An API built
 * without the alerts service (which changes settings) shows units exactly as `tegami serve` does,
 * and its OpenAPI document declares the same schema.
 */
describe(`a unit, one shape however the API is built (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let bare: FastifyInstance;
  let bareUrl = '';

  before(async () => {
    tegami = await startTestService();
    const database = tegami.service.database;
    const keys = new SqlApiKeyStore(database);
    bare = await buildApp({
      messages: new SqlMessageStore(database),
      findApiKey: (hash) => keys.findActiveByHash(hash),
      sandbox: null,
      readiness: async () => ({ ready: true }),
      operations: createOperations(database, {
        unsentAfterMs: 15 * 60_000,
        unconfirmedAfterMs: 30 * 60_000,
        sendgridWebhook: { publicKey: null, insecure: false, maxAgeMs: 0 },
      }).service,
      logger: createLogger('silent'),
    });
    bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await bare?.close();
    await tegami?.stop();
  });

  test('POST and GET /v1/units answer each unit as GET /v1/units/{id} of the full API does', async () => {
    const changed = await tegami.request('PUT', '/v1/units/default', {
      rate_limit_per_min: 600,
      default_priority: 'high',
      alerts: { dead_letters: 3 },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));

    const made = await request(bareUrl, 'POST', '/v1/units', { name: 'plain' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.headers.get('location'), `/v1/units/${made.body.id}`);
    const full = await tegami.request('GET', `/v1/units/${made.body.id}`);
    assert.deepEqual(made.body, full.body, 'a new unit, with the settings it has not set');
    const read = await request(bareUrl, 'GET', `/v1/units/${made.body.id}`);
    assert.equal(read.status, 200, 'its Location answers');
    assert.deepEqual(read.body, full.body);

    const listed = await request(bareUrl, 'GET', '/v1/units');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(
      listed.body.data.map((u: { name: string }) => u.name),
      ['default', 'plain'],
    );
    for (const unit of listed.body.data) {
      const single = await tegami.request('GET', `/v1/units/${unit.id}`);
      assert.deepEqual(unit, single.body, unit.name);
    }
    const shown = listed.body.data[0];
    assert.equal(shown.rate_limit_per_min, 600);
    assert.equal(shown.default_priority, 'high');
    assert.deepEqual(shown.alerts, { slack_webhook_url: null, thresholds: { dead_letters: 3 } });
  });

  test('the OpenAPI document declares one unit schema, whatever the API is built with', async () => {
    const documentOf = async (url: string) => {
      const r = await fetch(`${url}/openapi.json`);
      assert.equal(r.status, 200);
      return (await r.json()) as {
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      };
    };
    const [served, built] = await Promise.all([documentOf(tegami.url), documentOf(bareUrl)]);
    const answers = (d: typeof served) => ({
      list: d.paths['/v1/units']?.get?.responses['200'],
      create: d.paths['/v1/units']?.post?.responses['201'],
      read: d.paths['/v1/units/{id}']?.get?.responses['200'],
    });
    assert.ok(answers(served).read, 'GET /v1/units/{id} is documented');
    assert.deepEqual(answers(built), answers(served));
  });

  test('a unit read with GET and sent back to PUT is refused with what PUT takes instead, and changes nothing', async () => {
    const set = await tegami.request('PUT', '/v1/units/default', { alerts: { delay_s: 300 } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const read = await tegami.request('GET', '/v1/units/default');
    assert.equal(read.status, 200);
    const changed = structuredClone(read.body);
    changed.alerts.thresholds.delay_s = 60;

    const refused = await tegami.request('PUT', '/v1/units/default', changed);
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    const said = new Map(
      (refused.body.error.details as { field: string; message: string }[]).map((d) => [
        d.field,
        d.message,
      ]),
    );
    assert.match(
      said.get('alerts.thresholds') ?? '',
      /PUT takes them in alerts itself: alerts\.delay_s/,
    );
    assert.match(said.get('alerts.slack_webhook_url') ?? '', /masked.*as slack_webhook_url/);
    assert.match(said.get('id') ?? '', /read only/);
    assert.match(said.get('name') ?? '', /read only/);
    assert.match(said.get('created_at') ?? '', /read only/);
    // A field no answer has is still just unknown.
    const unknown = await tegami.request('PUT', '/v1/units/default', { alerts: { delay: 60 } });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.error.details, [
      { field: 'alerts.delay', message: 'is not a known field' },
    ]);

    const after = await tegami.request('GET', '/v1/units/default');
    assert.deepEqual(after.body, read.body, 'nothing changed');
  });
});
