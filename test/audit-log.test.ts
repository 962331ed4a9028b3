import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createOperations, operationsRetention } from '../src/cli/wire-operations.ts';
import { createApiKey } from '../src/domain/api-keys.ts';
import { newId } from '../src/domain/ids.ts';
import { SqlApiKeyStore, SqlUnitStore } from '../src/store/index.ts';
import {
  message,
  request,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';

interface AuditEvent {
  id: string;
  at: string;
  action: string;
  unit: string | null;
  target: string | null;
  target_name: string | null;
  actor: { type: string; id: string; name: string | null };
  filter: Record<string, unknown> | null;
  counts: Record<string, number> | null;
}

/** The operations of the service's database, to write audit events the API cannot make. */
function operationsOf(database: TestService['service']['database']) {
  return createOperations(database, {
    unsentAfterMs: 60_000,
    unconfirmedAfterMs: 1800_000,
    sendgridWebhook: { publicKey: null, insecure: false, maxAgeMs: 0 },
  });
}

/** Every operator action is on record: who, when, what, on what, the filter and the counts. */
describe(`the audit log (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let hotelKey = '';
  let hotelKeyId = '';
  const hotel = (method: string, path: string, body?: unknown) =>
    request(tegami.url, method, path, body, {}, hotelKey);
  const events = async (query = '', as = tegami.request) => {
    const r = await as('GET', `/v1/audit-events?limit=500${query ? `&${query}` : ''}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data as AuditEvent[];
  };

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    const unit = await tegami.request('POST', '/v1/units', { name: 'hotel' });
    assert.equal(unit.status, 201);
    const created = await createApiKey(
      new SqlApiKeyStore(tegami.service.database),
      'hotel front desk',
      Date.now(),
      { unitId: unit.body.id },
    );
    hotelKey = created.key;
    hotelKeyId = created.record.id;
  });
  after(async () => {
    await tegami.stop();
  });

  test('each kind of operator action is recorded with the actor, the unit and the target', async () => {
    const failed = await hotel(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'permanent@example.com' }] }),
    );
    await waitFor(
      async () => (await hotel('GET', `/v1/messages/${failed.body.id}`)).body.status === 'failed',
      'the message to fail',
    );
    assert.equal((await hotel('POST', `/v1/messages/${failed.body.id}/retry`)).status, 200);
    const scheduled = await hotel(
      'POST',
      '/v1/messages',
      message({ send_at: new Date(Date.now() + 3600_000).toISOString() }),
    );
    assert.equal((await hotel('POST', `/v1/messages/${scheduled.body.id}/cancel`)).status, 200);
    assert.equal(
      (await hotel('POST', '/v1/suppressions', { email: 'Gone@Example.com' })).status,
      201,
    );
    assert.equal((await hotel('DELETE', '/v1/suppressions/gone@example.com')).status, 204);
    const endpoint = await hotel('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.failed'],
    });
    assert.equal(
      (await hotel('POST', `/v1/webhook-endpoints/${endpoint.body.id}/redeliver`)).status,
      200,
    );
    assert.equal((await hotel('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`)).status, 204);
    const recovery = await hotel('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
      dry_run: false,
    });
    await waitFor(async () => {
      const r = await hotel('GET', `/v1/recoveries/${recovery.body.id}`);
      return r.body.state !== 'running';
    }, 'the recovery to finish');
    assert.equal((await tegami.request('POST', '/v1/providers/test/probe')).status, 202);

    const all = await events();
    const find = (action: string) => all.find((e) => e.action === action);
    const mine = {
      type: 'key',
      id: hotelKeyId,
      name: 'hotel front desk',
    };
    for (const [action, target] of [
      ['message.retry', failed.body.id],
      ['message.cancel', scheduled.body.id],
      ['suppression.add', 'gone@example.com'],
      ['suppression.remove', 'gone@example.com'],
      ['webhook_endpoint.create', endpoint.body.id],
      ['webhook_endpoint.redeliver', endpoint.body.id],
      ['webhook_endpoint.delete', endpoint.body.id],
      ['recovery.start', recovery.body.id],
      ['recovery.finish', recovery.body.id],
    ]) {
      const event = find(action as string);
      assert.ok(event, `${action} recorded`);
      assert.deepEqual(event.actor, mine, `${action}: who`);
      assert.equal(event.unit, 'hotel', `${action}: unit`);
      assert.equal(event.target, target, `${action}: target`);
      assert.ok(Math.abs(Date.parse(event.at) - Date.now()) < 60_000, `${action}: when`);
    }
    assert.deepEqual(find('recovery.start')?.filter, { status: 'failed' });
    const counts = find('recovery.finish')?.counts ?? {};
    assert.equal(
      counts.matched,
      (counts.done ?? -1) + (counts.skipped ?? -1),
      JSON.stringify(counts),
    );
    assert.deepEqual(find('webhook_endpoint.redeliver')?.counts, { requeued: 0 });
    const probe = find('provider.probe');
    assert.equal(probe?.unit, null);
    assert.equal(probe?.target, 'test');
    assert.equal(find('unit.create')?.target?.startsWith('unit_'), true);
    // Newest first.
    assert.deepEqual(
      all.map((e) => e.id),
      [...all.map((e) => e.id)].sort().reverse(),
    );
  });

  test('filters: actor, action, unit, time; a unit key sees its own unit only', async () => {
    assert.equal((await events('action=message.retry')).length, 1);
    const byActor = await events(`actor=${hotelKeyId}`);
    assert.ok(byActor.length >= 9 && byActor.every((e) => e.actor.id === hotelKeyId));
    const byUnit = await events('unit=hotel');
    assert.ok(byUnit.every((e) => e.unit === 'hotel'));
    assert.deepEqual(await events(`after=${new Date(Date.now() + 60_000).toISOString()}`), []);
    assert.deepEqual(await events(`before=${new Date(Date.now() - 3600_000).toISOString()}`), []);
    const seenByHotel = await events('', hotel);
    assert.ok(seenByHotel.length > 0);
    assert.ok(
      seenByHotel.every((e) => e.unit === 'hotel'),
      'not the admin probe',
    );
    assert.deepEqual(await events('unit=default', hotel), []);
    for (const query of ['action=nothing', 'after=yesterday', 'limit=0', 'cursor=xyz']) {
      const r = await tegami.request('GET', `/v1/audit-events?${query}`);
      assert.equal(r.status, 400, query);
    }
    const page = await tegami.request('GET', '/v1/audit-events?limit=2');
    const next = await tegami.request(
      'GET',
      `/v1/audit-events?limit=2&cursor=${page.body.next_cursor}`,
    );
    assert.ok(next.body.data[0].id < page.body.data[1].id);
  });

  test('an actor is found as the log shows it: cli:<OS user>, console:<e-mail>, or the e-mail alone', async () => {
    const database = tegami.service.database;
    const operations = operationsOf(database);
    const actors = [
      { type: 'cli' as const, id: 'deploy', name: null },
      { type: 'console' as const, id: 'usr_01TESTCONSOLEUSER', name: 'ops@example.jp' },
    ];
    for (const actor of actors) {
      await operations.audit.record({
        id: newId('aud'),
        at: Date.now(),
        actor,
        unitId: null,
        action: 'alerts.test',
        target: null,
        filter: null,
        counts: null,
      });
    }
    const who = async (actor: string) =>
      (await events(`actor=${encodeURIComponent(actor)}`)).map(
        (e) => `${e.actor.type}:${e.actor.id}`,
      );
    for (const form of ['cli:deploy', 'deploy']) {
      assert.deepEqual(await who(form), ['cli:deploy'], form);
    }
    for (const form of [
      'console:ops@example.jp',
      'ops@example.jp',
      'OPS@example.jp',
      'usr_01TESTCONSOLEUSER',
      'console:usr_01TESTCONSOLEUSER',
    ]) {
      assert.deepEqual(await who(form), ['console:usr_01TESTCONSOLEUSER'], form);
    }
    assert.deepEqual(await who('console:deploy'), [], 'the type must match');
    assert.deepEqual(await who('cli:ops@example.jp'), []);
  });

  test('an API key is found by its name: every key of that name, a revoked one too', async () => {
    const keys = new SqlApiKeyStore(tegami.service.database);
    // Two keys named alike (the first revoked once the second replaced it), one named in
    // capitals, and a key of the hotel unit: each adds a suppression, the log names each by name.
    const first = await createApiKey(keys, 'hotel app', Date.now());
    const second = await createApiKey(keys, 'hotel app', Date.now());
    const capitals = await createApiKey(keys, 'Hotel App', Date.now());
    const suppress = async (key: string, email: string) => {
      const r = await request(tegami.url, 'POST', '/v1/suppressions', { email }, {}, key);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    };
    await suppress(first.key, 'by-first@example.jp');
    await suppress(second.key, 'by-second@example.jp');
    await suppress(capitals.key, 'by-capitals@example.jp');
    assert.equal(await keys.revoke(first.record.id, Date.now()), true);
    const operations = operationsOf(tegami.service.database);
    await operations.audit.record({
      id: newId('aud'),
      at: Date.now(),
      actor: { type: 'cli', id: 'TEGAMI_ADMIN_EMAIL', name: 'first start' },
      unitId: null,
      action: 'user.create',
      target: 'usr_01TESTFIRSTADMIN',
      filter: null,
      counts: null,
    });

    const found = async (actor: string, as = tegami.request) =>
      (await events(`actor=${encodeURIComponent(actor)}`, as)).map(
        (e) => `${e.actor.type}:${e.actor.id} ${e.target}`,
      );
    const hotelApp = [
      `key:${second.record.id} by-second@example.jp`,
      `key:${first.record.id} by-first@example.jp`,
    ];
    for (const form of ['hotel app', 'key:hotel app']) {
      assert.deepEqual(await found(form), hotelApp, form);
    }
    assert.deepEqual(await found('Hotel App'), [
      `key:${capitals.record.id} by-capitals@example.jp`,
    ]);
    // An id is one key, as before; a part of a name, or another type, is no one.
    assert.deepEqual(await found(first.record.id), [`key:${first.record.id} by-first@example.jp`]);
    assert.deepEqual(await found(`key:${first.record.id}`), [
      `key:${first.record.id} by-first@example.jp`,
    ]);
    for (const nobody of ['hotel', 'hotel app ', 'cli:hotel app', 'console:hotel app', 'nobody']) {
      assert.deepEqual(await found(nobody), [], nobody);
    }
    // The key from TEGAMI_BOOTSTRAP_API_KEY by the word the log shows for it, or its stored name.
    const bootstrapWords = ['bootstrap', 'key:bootstrap', 'bootstrap (TEGAMI_BOOTSTRAP_API_KEY)'];
    for (const form of bootstrapWords) {
      const byBootstrap = await events(`actor=${encodeURIComponent(form)}`);
      assert.ok(byBootstrap.length > 0, form);
      assert.ok(
        byBootstrap.every((e) => e.actor.name === 'bootstrap (TEGAMI_BOOTSTRAP_API_KEY)'),
        form,
      );
      assert.ok(
        byBootstrap.some((e) => e.action === 'unit.create'),
        `${form}: the unit it made`,
      );
    }
    // A `tegami` actor with a name: the first admin's making.
    assert.deepEqual(await found('first start'), ['cli:TEGAMI_ADMIN_EMAIL usr_01TESTFIRSTADMIN']);
    // A unit key finds only its unit's events by a name, as by an id: these keys are not its.
    assert.deepEqual(await found('hotel app', hotel), []);
    assert.ok((await found('hotel front desk', hotel)).length >= 9);
  });

  test('a key, a unit and a console user are named where the log shows them; an admin key shows its unit', async () => {
    const env = { TEGAMI_DATABASE_URL: tegami.databaseUrl, TEGAMI_LOG_LEVEL: 'error' };
    const made = async (args: string[]) => {
      const r = await runTegami(['keys', 'create', ...args], env);
      assert.equal(r.code, 0, r.output);
      return /(key_[0-9A-Z]{26})/.exec(r.output)?.[1] ?? '';
    };
    const admin = await made(['--admin', '--name', 'ops admin']);
    const bulk = await made([
      '--unit',
      'hotel',
      '--name',
      'hotel newsletter',
      '--priority',
      'bulk',
    ]);
    assert.equal((await runTegami(['keys', 'revoke', admin], env)).code, 0);
    const user = await runTegami(
      ['users', 'create', '--email', 'Auditor@example.jp', '--role', 'viewer'],
      env,
      { input: 'auditor-password-123\n' },
    );
    assert.equal(user.code, 0, user.output);

    // The API and --json keep every field, the ids among them, and name the target beside it.
    const named = (await events()).map((e) => [e.action, e.target, e.target_name, e.unit]);
    const userId = named.find(([action]) => action === 'user.create')?.[1];
    assert.match(String(userId), /^usr_/);
    const hotelId = named.find(([action]) => action === 'unit.create')?.[1];
    for (const row of [
      ['key.create', admin, 'ops admin', null],
      ['key.revoke', admin, 'ops admin', null],
      ['key.create', bulk, 'hotel newsletter', 'hotel'],
      ['user.create', userId, 'auditor@example.jp', null],
      ['unit.create', hotelId, 'hotel', 'hotel'],
      ['message.retry', named.find(([a]) => a === 'message.retry')?.[1], null, 'hotel'],
    ]) {
      assert.ok(
        named.some((n) => JSON.stringify(n) === JSON.stringify(row)),
        `${JSON.stringify(row)} in ${JSON.stringify(named)}`,
      );
    }

    // A terminal: names, a key's id beside its name (what `keys revoke` takes), the admin key's
    // own unit, and a new key's settings in words rather than JSON.
    const table = await runTegami(['audit', '--limit', '500'], env);
    assert.equal(table.code, 0, table.output);
    const line = (action: string, target: string) =>
      table.output.split('\n').find((l) => l.includes(` ${action} `) && l.includes(target)) ?? '';
    assert.match(
      line('key.create', admin),
      new RegExp(
        `key\\.create\\s+default \\(admin\\)\\s+ops admin \\(${admin}\\)\\s+admin key: every unit$`,
      ),
    );
    assert.match(
      line('key.revoke', admin),
      new RegExp(`key\\.revoke\\s+default \\(admin\\)\\s+ops admin \\(${admin}\\)$`),
    );
    assert.match(
      line('key.create', bulk),
      new RegExp(
        `key\\.create\\s+hotel\\s+hotel newsletter \\(${bulk}\\)\\s+unit key, priority bulk$`,
      ),
    );
    assert.match(line('user.create', 'auditor@'), /user\.create\s+-\s+auditor@example\.jp$/);
    assert.match(line('unit.create', ' hotel'), /unit\.create\s+hotel\s+hotel$/);
    assert.doesNotMatch(table.output, /"admin":|unit_/, 'no raw JSON of a key, no unit id');
    assert.doesNotMatch(line('user.create', 'auditor@'), /usr_/);
    // A user the log names but no row has (written by hand above) keeps its id.
    assert.match(line('user.create', 'usr_01TESTFIRSTADMIN'), /usr_01TESTFIRSTADMIN$/);
    // The unit column is only shown: the admin key's events are still of no unit, for a unit's
    // keys and users not to see them.
    assert.ok((await events('unit=default')).every((e) => e.target !== admin));
    assert.ok((await events('', hotel)).every((e) => e.target !== admin));
  });

  test('kept TEGAMI_AUDIT_RETENTION_DAYS, apart from message retention', async () => {
    const database = tegami.service.database;
    const operations = operationsOf(database);
    const old = { type: 'cli' as const, id: 'someone', name: null };
    const units = new SqlUnitStore(database);
    const hotelUnit = await units.findByName('hotel');
    await operations.audit.record({
      id: newId('aud'),
      at: Date.now() - 3 * 24 * 3600_000,
      actor: old,
      unitId: hotelUnit?.id ?? null,
      action: 'message.retry',
      target: 'msg_old',
      filter: null,
      counts: null,
    });
    assert.equal((await events('actor=someone')).length, 1);
    const prune = async (
      config: { auditRetentionDays: number; retentionDays: number },
      now: number,
    ) => {
      const pruned: Record<string, number> = {};
      for (const job of operationsRetention(operations, config)) {
        Object.assign(pruned, await job(now));
      }
      return pruned;
    };
    assert.deepEqual(
      await prune({ auditRetentionDays: 2, retentionDays: 90 }, Date.now()),
      { recoverySetEntries: 0, auditEvents: 1 },
      'what it deleted, for the log line',
    );
    assert.deepEqual(await events('actor=someone'), [], 'older than 2 days: gone');
    // A recovery's set is worked off as it goes; what a cancelled one left (skipped) goes with
    // message retention (here: everything ended).
    const failed: string[] = [];
    for (const email of ['permanent-2@example.com', 'permanent-3@example.com']) {
      failed.push(
        (await tegami.request('POST', '/v1/messages', message({ to: [{ email }] }))).body.id,
      );
    }
    const allFailed = async () => {
      for (const id of failed) {
        if ((await tegami.request('GET', `/v1/messages/${id}`)).body.status !== 'failed')
          return false;
      }
      return true;
    };
    await waitFor(allFailed, 'dead letters');
    const count = async (recoveryId?: string) =>
      Number(
        (
          await database.db
            .selectFrom('recovery_items')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .$if(recoveryId !== undefined, (q) => q.where('recovery_id', '=', recoveryId ?? ''))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const recovery = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
      dry_run: false,
    });
    await waitFor(
      async () =>
        (await tegami.request('GET', `/v1/recoveries/${recovery.body.id}`)).body.state === 'done',
      'the recovery',
    );
    assert.equal(await count(recovery.body.id), 0, 'a finished recovery keeps no set');
    await waitFor(allFailed, 'dead letters again');
    // One message a second: the cancel lands while most of the set is still to do.
    const paced = await tegami.request('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
      rate_per_s: 1,
      dry_run: false,
    });
    const cancelled = await tegami.request('POST', `/v1/recoveries/${paced.body.id}/cancel`);
    assert.equal(cancelled.body.state, 'cancelled');
    const entries = await count();
    assert.ok(entries > 0);
    assert.deepEqual(await prune({ auditRetentionDays: 2, retentionDays: 0 }, Date.now() + 1000), {
      recoverySetEntries: entries,
      auditEvents: 0,
    });
    const recoveries = (await tegami.request('GET', '/v1/recoveries')).body.data;
    assert.ok(recoveries.length > 0, 'the recoveries themselves stay');
    assert.equal(await count(), 0);
    assert.ok((await events()).length >= 10, 'recent events stay');
  });
});

/**
 * What a start does to API keys by itself is on record as a change by hand is: the first key,
 * the key from TEGAMI_BOOTSTRAP_API_KEY, and that key made active again after a revocation
 * (with a warning in the log), once however many processes start at once.
 */
describe(`API keys a start makes or brings back (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  const env = { TEGAMI_DATABASE_URL: db.url, TEGAMI_LOG_LEVEL: 'error' };
  const BOOTSTRAP = 'bootstrap-key-of-the-operator-0123456789';
  const logged: string[] = [];
  after(() => db.cleanup());

  /** A start as `tegami api` makes it, with TEGAMI_BOOTSTRAP_API_KEY set or not. */
  const start = (bootstrap: string) =>
    startTestService(
      {
        TEGAMI_DATABASE_URL: db.url,
        TEGAMI_BOOTSTRAP_API_KEY: bootstrap,
        TEGAMI_TEST_NO_WORKER: '1',
      },
      {
        housekeeping: false,
        logger: pino({ level: 'info' }, { write: (line: string) => void logged.push(line) }),
      },
    );
  /** Several starts at once on the one database, as a cluster's processes start. */
  const startTogether = async (bootstrap: string, count: number) => {
    const started = await Promise.all(Array.from({ length: count }, () => start(bootstrap)));
    await Promise.all(started.map((s) => s.stop()));
  };
  /** The key events, oldest first, as `tegami audit --json` gives them. */
  const keyEvents = async () => {
    const r = await runTegami(['audit', '--json', '--limit', '500'], env);
    assert.equal(r.code, 0, r.output);
    return (
      r.output
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)) as AuditEvent[]
    )
      .filter((e) => e.action.startsWith('key.'))
      .reverse();
  };
  const startActor = { type: 'cli', id: 'TEGAMI_BOOTSTRAP_API_KEY', name: 'start' };

  test('the first key, the bootstrap key, and its return after a revocation are recorded, once each', async () => {
    const first = await start('');
    await first.stop();
    const [firstKey, ...none] = await keyEvents();
    assert.deepEqual(none, []);
    assert.deepEqual(firstKey?.actor, { type: 'cli', id: 'tegami itself', name: 'first start' });
    assert.equal(firstKey?.action, 'key.create');
    assert.equal(firstKey?.target_name, 'first key (created at first start)');
    assert.deepEqual(firstKey?.filter, {
      name: 'first key (created at first start)',
      admin: true,
      default_priority: null,
    });

    await startTogether(BOOTSTRAP, 3);
    const created = (await keyEvents()).slice(1);
    assert.equal(created.length, 1, `made once, recorded once: ${JSON.stringify(created)}`);
    assert.deepEqual(created[0]?.actor, startActor);
    assert.equal(created[0]?.action, 'key.create');
    assert.equal(created[0]?.target_name, 'bootstrap (TEGAMI_BOOTSTRAP_API_KEY)');
    const bootstrapId = created[0]?.target ?? '';
    assert.match(bootstrapId, /^key_/);

    const revoked = await runTegami(['keys', 'revoke', bootstrapId], env);
    assert.equal(revoked.code, 0, revoked.output);
    assert.match(
      revoked.output,
      /the key from TEGAMI_BOOTSTRAP_API_KEY: the next start makes it active again/,
    );
    logged.length = 0;
    await startTogether(BOOTSTRAP, 3);
    const afterRevoke = (await keyEvents()).slice(2);
    assert.deepEqual(
      afterRevoke.map((e) => [e.action, e.target, e.actor.id]),
      [
        ['key.revoke', bootstrapId, afterRevoke[0]?.actor.id],
        ['key.reactivate', bootstrapId, 'TEGAMI_BOOTSTRAP_API_KEY'],
      ],
    );
    assert.equal(afterRevoke[0]?.actor.type, 'cli');
    assert.deepEqual(afterRevoke[1]?.actor, startActor);
    const warnings = logged
      .map((l) => JSON.parse(l))
      .filter((l) => l.level === 40 && String(l.msg).includes('active again'));
    assert.equal(warnings.length, 1, logged.join(''));
    assert.equal(warnings[0].keyId, bootstrapId);
    assert.match(warnings[0].msg, /remove the variable/);
    const listed = await runTegami(['keys', 'list'], env);
    assert.match(listed.output, new RegExp(`${bootstrapId}\\t\\S+\\tactive\\t`));

    // An active key: a start changes nothing, and records nothing.
    await startTogether(BOOTSTRAP, 1);
    assert.equal((await keyEvents()).length, 4);
    const table = await runTegami(['audit', '--action', 'key.reactivate'], env);
    assert.match(
      table.output,
      new RegExp(
        `start · from TEGAMI_BOOTSTRAP_API_KEY\\s+key\\.reactivate\\s+default \\(admin\\)\\s+bootstrap \\(${bootstrapId}\\)`,
      ),
    );
    const firstLine = await runTegami(['audit', '--actor', 'first start'], env);
    assert.match(
      firstLine.output,
      /first start · Tegami itself\s+key\.create\s+default \(admin\)\s+first key/,
    );
  });
});
