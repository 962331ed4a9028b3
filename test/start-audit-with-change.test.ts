import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { createOperations } from '../src/cli/wire-operations.ts';
import {
  BOOTSTRAP_KEY_NAME,
  createApiKey,
  createFirstApiKey,
  ensureBootstrapKey,
  generateApiKey,
  hashApiKey,
  revokeApiKey,
} from '../src/domain/api-keys.ts';
import { ConsoleAccounts } from '../src/domain/console-accounts.ts';
import { newId } from '../src/domain/ids.ts';
import { START_ACTORS } from '../src/domain/operations/audit.ts';
import type { AuditAction } from '../src/domain/operations/audit-event.ts';
import { type Actor, ALL_UNITS } from '../src/domain/operations/scope.ts';
import { OperationsService } from '../src/domain/operations/service.ts';
import {
  addSuppressionByHand,
  removeSuppressionByHand,
} from '../src/domain/suppressions-by-hand.ts';
import { redeliverByHand } from '../src/domain/webhook-endpoints-by-hand.ts';
import { consoleUserStore } from '../src/store/console/store.ts';
import {
  type DatabaseHandle,
  migrateToLatest,
  openDatabase,
  SqlApiKeyStore,
  SqlMessageStore,
  SqlOperationsQueries,
  SqlSuppressionStore,
  SqlWebhookStore,
} from '../src/store/index.ts';
import {
  startTestService,
  storeOneMessage,
  TEST_ENGINE,
  TEST_KEY,
  type TempDatabase,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * Runs `work` while a trigger refuses every audit insert, as a disk full or a lost connection
 * between a change and its event would, and answers what it answered.
 */
async function withAuditRefused<T>(handle: DatabaseHandle, work: () => Promise<T>): Promise<T> {
  if (TEST_ENGINE === 'postgres') {
    await sql`create or replace function refuse_audit() returns trigger language plpgsql
                as $$ begin raise exception 'audit events refused'; end $$`.execute(handle.db);
    await sql`create trigger refuse_audit before insert on audit_events
                for each row execute function refuse_audit()`.execute(handle.db);
  } else {
    await sql`create trigger refuse_audit before insert on audit_events
                begin select raise(abort, 'audit events refused'); end`.execute(handle.db);
  }
  try {
    return await work();
  } finally {
    const onTable = TEST_ENGINE === 'postgres' ? sql` on audit_events` : sql``;
    await sql`drop trigger refuse_audit${onTable}`.execute(handle.db);
  }
}

/** What the API answers a change whose audit event was refused: it says nothing changed. */
const NOTHING_CHANGED = {
  error: { code: 'internal_error', message: 'internal error; nothing was changed' },
};

/** An audit event as stored, its time a number and its filter and counts read from JSON. */
interface StoredAuditEvent {
  action: string;
  target: string | null;
  actor_id: string;
  actor_type: string;
  unit_id: string | null;
  at: number;
  filter: unknown;
  counts: unknown;
}

/** The events of `actions`, oldest first, with `columns` only (what each test compares). */
async function auditEventsOf<C extends keyof StoredAuditEvent>(
  handle: DatabaseHandle,
  actions: readonly AuditAction[],
  columns: readonly C[],
): Promise<Pick<StoredAuditEvent, C>[]> {
  const rows = await handle.db
    .selectFrom('audit_events')
    .selectAll()
    .where('action', 'in', actions)
    .orderBy('id')
    .execute();
  return rows.map((row) => {
    const event: StoredAuditEvent = {
      action: row.action,
      target: row.target,
      actor_id: row.actor_id,
      actor_type: row.actor_type,
      unit_id: row.unit_id,
      at: Number(row.at),
      filter: row.filter === null ? null : JSON.parse(row.filter),
      counts: row.counts === null ? null : JSON.parse(row.counts),
    };
    return Object.fromEntries(columns.map((c) => [c, event[c]])) as Pick<StoredAuditEvent, C>;
  });
}

/**
 * What a start makes by itself (the first API key, the key from TEGAMI_BOOTSTRAP_API_KEY, the
 * first console admin), and what an operator does (a key, a probe request, a message retried or
 * cancelled, an address suppressed or let through again, a console user changed), is written with
 * its audit event in one transaction: the event names what was made or changed, and an event that
 * cannot be written leaves nothing made or changed. A trigger made here refuses every audit insert, as a disk full
 * or a lost connection between the two writes would.
 */
describe(`a start's or an operator's change and its audit event, together (${TEST_ENGINE})`, () => {
  let db: TempDatabase;
  let handle: DatabaseHandle;

  before(async () => {
    db = tempDatabase();
    handle = openDatabase(db.url);
    await migrateToLatest(handle.db);
  });
  after(async () => {
    await handle.close();
    await db.cleanup();
  });

  /** With audit events refused: `work` fails, and what it would have made is not there. */
  async function refusedLeavesNothing(work: () => Promise<unknown>): Promise<void> {
    await withAuditRefused(handle, () => assert.rejects(work, /audit events refused/));
  }

  async function stored() {
    const keys = await handle.db
      .selectFrom('api_keys')
      .select(['id', 'name', 'revoked_at'])
      .orderBy('id')
      .execute();
    const users = await handle.db.selectFrom('console_users').select(['id', 'email']).execute();
    const events = await handle.db
      .selectFrom('audit_events')
      .select(['action', 'target', 'actor_id'])
      .orderBy('id')
      .execute();
    return { keys, users, events };
  }

  test('the first API key: none without its key.create, and its key.create names it', async () => {
    const keys = new SqlApiKeyStore(handle);
    await refusedLeavesNothing(() => createFirstApiKey(keys, START_ACTORS.firstKey));
    assert.deepEqual(await stored(), { keys: [], users: [], events: [] });

    const first = await createFirstApiKey(keys, START_ACTORS.firstKey);
    assert.ok(first);
    const { events } = await stored();
    assert.deepEqual(events, [
      { action: 'key.create', target: first.record.id, actor_id: START_ACTORS.firstKey.id },
    ]);
  });

  test('the bootstrap key: made and made active again, each with its event or not at all', async () => {
    const keys = new SqlApiKeyStore(handle);
    const bootstrap = generateApiKey();
    const earlier = await stored();
    await refusedLeavesNothing(() =>
      ensureBootstrapKey(keys, bootstrap, START_ACTORS.bootstrapKey),
    );
    assert.deepEqual(await stored(), earlier);

    const made = await ensureBootstrapKey(keys, bootstrap, START_ACTORS.bootstrapKey);
    assert.equal(made.kind, 'created');
    const id = made.key.id;
    assert.deepEqual((await stored()).events.slice(earlier.events.length), [
      { action: 'key.create', target: id, actor_id: START_ACTORS.bootstrapKey.id },
    ]);
    assert.equal((await keys.findByHash(hashApiKey(bootstrap)))?.name, BOOTSTRAP_KEY_NAME);

    // Revoked by an operator; the variable still names it, so the next start takes it back.
    assert.equal(await keys.revoke(id, Date.now()), true);
    const revoked = await stored();
    await refusedLeavesNothing(() =>
      ensureBootstrapKey(keys, bootstrap, START_ACTORS.bootstrapKey),
    );
    assert.deepEqual(await stored(), revoked, 'still revoked, nothing recorded');

    const again = await ensureBootstrapKey(keys, bootstrap, START_ACTORS.bootstrapKey);
    assert.equal(again.kind, 'reactivated');
    const later = await stored();
    assert.equal(later.keys.find((k) => k.id === id)?.revoked_at, null);
    assert.deepEqual(later.events.slice(revoked.events.length), [
      { action: 'key.reactivate', target: id, actor_id: START_ACTORS.bootstrapKey.id },
    ]);
  });

  test('the first console admin: none without its user.create, and its user.create names it', async () => {
    const accounts = new ConsoleAccounts(consoleUserStore(handle));
    const earlier = await stored();
    await refusedLeavesNothing(() =>
      accounts.ensureAdmin(START_ACTORS.firstAdmin, 'admin@example.jp', 'admin-password-1234'),
    );
    assert.deepEqual(await stored(), earlier);

    assert.equal(
      await accounts.ensureAdmin(
        START_ACTORS.firstAdmin,
        'admin@example.jp',
        'admin-password-1234',
      ),
      true,
    );
    const later = await stored();
    const [user] = later.users;
    assert.equal(user?.email, 'admin@example.jp');
    assert.deepEqual(later.events.slice(earlier.events.length), [
      { action: 'user.create', target: user?.id, actor_id: START_ACTORS.firstAdmin.id },
    ]);
  });

  test('a key an operator creates or revokes (console, tegami keys): with its event or not at all, once', async () => {
    const keys = new SqlApiKeyStore(handle);
    const operator: Actor = { type: 'console', id: 'usr_test', name: 'ops@example.jp' };
    const earlier = await stored();
    await refusedLeavesNothing(() =>
      createApiKey(keys, 'hotel app', Date.now(), { actor: operator }),
    );
    assert.deepEqual(await stored(), earlier, 'no key without its key.create');

    const made = await createApiKey(keys, 'hotel app', Date.now(), { actor: operator });
    const created = await stored();
    assert.deepEqual(created.events.slice(earlier.events.length), [
      { action: 'key.create', target: made.record.id, actor_id: operator.id },
    ]);

    await refusedLeavesNothing(() => revokeApiKey(keys, made.record, operator));
    assert.deepEqual(await stored(), created, 'still active, nothing recorded');
    assert.equal((await keys.findActiveByHash(hashApiKey(made.key)))?.id, made.record.id);

    // Two at once, then once more: one revocation, recorded once.
    const answers = await Promise.all([
      revokeApiKey(keys, made.record, operator),
      revokeApiKey(keys, made.record, operator),
    ]);
    assert.deepEqual(answers.sort(), [false, true]);
    assert.equal(await revokeApiKey(keys, made.record, operator), false);
    const revoked = await stored();
    assert.notEqual(revoked.keys.find((k) => k.id === made.record.id)?.revoked_at, null);
    assert.deepEqual(revoked.events.slice(created.events.length), [
      { action: 'key.revoke', target: made.record.id, actor_id: operator.id },
    ]);
    assert.equal(await keys.findActiveByHash(hashApiKey(made.key)), null);
  });
  /** The operations layer on this database, as the API, the console and the CLI have it. */
  function operations() {
    return createOperations(handle, {
      unsentAfterMs: 60_000,
      unconfirmedAfterMs: 1800_000,
      sendgridWebhook: { publicKey: null, insecure: false, maxAgeMs: 0 },
    }).service;
  }

  /** The events of `actions`, oldest first, with the unit and time each names. */
  function eventsOf(...actions: AuditAction[]) {
    return auditEventsOf(handle, actions, ['action', 'target', 'actor_id', 'unit_id', 'at']);
  }

  test('a probe an operator asks for: the request with its provider.probe or neither', async () => {
    const service = operations();
    const operator: Actor = { type: 'key', id: 'key_test', name: 'on-call' };
    const probe = () => service.requestProbe(ALL_UNITS, operator, 'sendgrid', ['sendgrid']);
    const requested = () =>
      handle.db
        .selectFrom('provider_probe_requests')
        .select(['provider', 'requested_at'])
        .execute();
    const probeEvents = async () =>
      (
        await handle.db
          .selectFrom('audit_events')
          .select(['action', 'target', 'actor_id', 'at'])
          .where('action', '=', 'provider.probe')
          .orderBy('id')
          .execute()
      ).map((e) => ({ ...e, at: Number(e.at) }));

    await refusedLeavesNothing(probe);
    assert.deepEqual(await requested(), [], 'no request without its provider.probe');
    assert.deepEqual(await probeEvents(), []);

    const first = await probe();
    const asked = { action: 'provider.probe', target: 'sendgrid', actor_id: operator.id };
    assert.deepEqual(
      (await requested()).map((r) => ({ ...r, requested_at: Number(r.requested_at) })),
      [{ provider: 'sendgrid', requested_at: first }],
    );
    assert.deepEqual(await probeEvents(), [{ ...asked, at: first }]);

    // Asked again while the event is refused: the earlier request stays as it was.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await refusedLeavesNothing(probe);
    assert.equal(Number((await requested())[0]?.requested_at), first, 'the first request kept');
    assert.equal((await probeEvents()).length, 1);

    const second = await probe();
    assert.ok(second > first);
    assert.equal(Number((await requested())[0]?.requested_at), second);
    assert.deepEqual(await probeEvents(), [
      { ...asked, at: first },
      { ...asked, at: second },
    ]);
  });

  test("a unit an operator creates, a recovery it starts and cancels: each event at the change's own time", async () => {
    // A clock a millisecond on at each read, so a time read twice shows as two.
    let time = Date.now();
    const { units, recoveries, audit, probes } = createOperations(handle, {
      unsentAfterMs: 60_000,
      unconfirmedAfterMs: 1800_000,
      sendgridWebhook: { publicKey: null, insecure: false, maxAgeMs: 0 },
    });
    const service = new OperationsService({
      units,
      recoveries,
      audit,
      probes,
      messages: new SqlMessageStore(handle),
      queries: new SqlOperationsQueries(handle),
      unsentAfterMs: 60_000,
      unconfirmedAfterMs: null,
      clock: () => ++time,
    });
    const operator: Actor = { type: 'cli', id: 'ops', name: null };
    const unit = await service.createUnit(ALL_UNITS, operator, 'one-instant');
    // A failed message in the unit, so the recovery has something to do and runs until cancelled.
    const failed = await storeOneMessage(new SqlMessageStore(handle));
    await handle.db
      .updateTable('messages')
      .set({ status: 'failed', next_attempt_at: null, unit_id: unit.id })
      .where('id', '=', failed)
      .execute();
    const recovery = await service.startRecovery(ALL_UNITS, operator, {
      action: 'retry',
      query: { unit: 'one-instant', status: 'failed' },
    });
    const cancelled = await service.cancelRecovery(ALL_UNITS, operator, recovery.id);
    const createdAt = async (table: 'units' | 'recoveries', id: string) =>
      Number(
        (
          await handle.db
            .selectFrom(table)
            .select('created_at')
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).created_at,
      );
    const byOperator = { actor_id: operator.id, unit_id: unit.id };
    assert.deepEqual(
      (await eventsOf('unit.create', 'recovery.start', 'recovery.cancel')).filter(
        (e) => e.unit_id === unit.id,
      ),
      [
        { action: 'unit.create', target: unit.id, ...byOperator, at: unit.createdAt },
        { action: 'recovery.start', target: recovery.id, ...byOperator, at: recovery.createdAt },
        {
          action: 'recovery.cancel',
          target: recovery.id,
          ...byOperator,
          at: cancelled.finishedAt ?? Number.NaN,
        },
      ],
      "each event at its record's created time",
    );
    assert.equal(await createdAt('units', unit.id), unit.createdAt);
    assert.equal(await createdAt('recoveries', recovery.id), recovery.createdAt);
  });

  test('a message an operator retries or cancels: the change with its event or neither, once', async () => {
    const service = operations();
    const operator: Actor = { type: 'console', id: 'usr_test', name: 'ops@example.jp' };
    const messages = new SqlMessageStore(handle);
    const failed = await storeOneMessage(messages);
    const queued = await storeOneMessage(messages);
    await handle.db
      .updateTable('messages')
      .set({ status: 'failed', next_attempt_at: null })
      .where('id', '=', failed)
      .execute();
    const stored = async (id: string) => {
      const row = await handle.db
        .selectFrom('messages')
        .select(['status', 'unit_id', 'updated_at'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return { status: row.status, unitId: row.unit_id, updatedAt: Number(row.updated_at) };
    };
    const before = { failed: await stored(failed), queued: await stored(queued) };

    await refusedLeavesNothing(() => service.retryMessage(ALL_UNITS, operator, failed));
    await refusedLeavesNothing(() => service.cancelMessage(ALL_UNITS, operator, queued));
    assert.deepEqual(
      { failed: await stored(failed), queued: await stored(queued) },
      before,
      'neither requeued nor cancelled without its event',
    );
    assert.deepEqual(await eventsOf('message.retry', 'message.cancel'), []);

    const retried = await service.retryMessage(ALL_UNITS, operator, failed);
    const cancelled = await service.cancelMessage(ALL_UNITS, operator, queued);
    assert.equal(retried.kind, 'changed');
    assert.equal(cancelled.kind, 'changed');
    const after = { failed: await stored(failed), queued: await stored(queued) };
    assert.equal(after.failed.status, 'queued');
    assert.equal(after.queued.status, 'cancelled');
    const byOperator = { actor_id: operator.id, unit_id: before.failed.unitId };
    const recorded = [
      { action: 'message.retry', target: failed, ...byOperator, at: after.failed.updatedAt },
      { action: 'message.cancel', target: queued, ...byOperator, at: after.queued.updatedAt },
    ];
    assert.deepEqual(await eventsOf('message.retry', 'message.cancel'), recorded);

    // Nothing to change any more (queued, cancelled, no such message): nothing recorded.
    assert.equal((await service.retryMessage(ALL_UNITS, operator, failed)).kind, 'wrong_status');
    assert.equal((await service.cancelMessage(ALL_UNITS, operator, queued)).kind, 'wrong_status');
    assert.equal(
      (await service.cancelMessage(ALL_UNITS, operator, 'msg_nothere')).kind,
      'not_found',
    );
    assert.deepEqual(await eventsOf('message.retry', 'message.cancel'), recorded);
  });

  test('an address an operator suppresses or lets through again (API, console): with each event or not at all', async () => {
    const suppressions = new SqlSuppressionStore(handle);
    const operator: Actor = { type: 'key', id: 'key_test', name: 'on-call' };
    const entries = () =>
      handle.db
        .selectFrom('suppressions')
        .select(['email_normalized', 'unit_id'])
        .orderBy('unit_id')
        .execute();
    const changes = () => eventsOf('suppression.add', 'suppression.remove');
    const add = (unitId: string, createdAt: number) =>
      addSuppressionByHand(suppressions, operator, {
        email: 'Guest@Example.jp',
        reason: 'manual',
        source: 'api',
        createdAt,
        unitId,
      });
    const removeAll = (now: number) =>
      removeSuppressionByHand(
        suppressions,
        operator,
        { email: 'GUEST@example.jp', why: 'the guest asked for mail again' },
        now,
      );
    const start = Date.now();

    await refusedLeavesNothing(() => add('unit_front', start));
    assert.deepEqual(await entries(), [], 'not suppressed without its suppression.add');
    assert.deepEqual(await changes(), []);

    assert.equal((await add('unit_front', start + 1)).created, true);
    assert.equal((await add('unit_spa', start + 2)).created, true);
    assert.equal((await add('unit_front', start + 3)).created, false, "the unit's entry kept");
    const byOperator = {
      action: 'suppression.add',
      target: 'guest@example.jp',
      actor_id: operator.id,
    };
    const added = [
      { ...byOperator, unit_id: 'unit_front', at: start + 1 },
      { ...byOperator, unit_id: 'unit_spa', at: start + 2 },
    ];
    assert.deepEqual(await changes(), added, 'one event per entry made, at its own time');

    await refusedLeavesNothing(() => removeAll(start + 4));
    assert.equal((await entries()).length, 2, 'both entries kept without their suppression.remove');
    assert.deepEqual(await changes(), added);

    assert.equal((await removeAll(start + 5)).length, 2);
    assert.deepEqual(await entries(), []);
    const removed = { ...byOperator, action: 'suppression.remove', at: start + 5 };
    assert.deepEqual(await changes(), [
      ...added,
      { ...removed, unit_id: 'unit_front' },
      { ...removed, unit_id: 'unit_spa' },
    ]);
    const whys = await handle.db
      .selectFrom('audit_events')
      .select('filter')
      .where('action', '=', 'suppression.remove')
      .execute();
    assert.deepEqual(
      whys.map((e) => JSON.parse(String(e.filter))),
      [{ why: 'the guest asked for mail again' }, { why: 'the guest asked for mail again' }],
    );

    // Nothing left to remove: nothing recorded.
    assert.deepEqual(await removeAll(start + 6), []);
    assert.equal((await changes()).length, 4);
  });

  test("an admin's change to a console user (unlock, password, disable, enable, sign-out everywhere): with its event or not at all", async () => {
    const accounts = new ConsoleAccounts(consoleUserStore(handle));
    const admin: Actor = { type: 'console', id: 'usr_admin', name: 'ops@example.jp' };
    const password = 'user-password-1234';
    const user = await accounts.createUser(admin, {
      email: 'front-desk@example.jp',
      password,
      role: 'viewer',
      unitIds: null,
      canReadBodies: false,
    });
    const signIn = async () =>
      assert.equal((await accounts.signIn(user.email, password, '127.0.0.1')).kind, 'signed_in');
    const state = async () => {
      const row = await handle.db
        .selectFrom('console_users')
        .select(['password_hash', 'failed_sign_ins', 'disabled_at', 'sign_outs'])
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      const sessions = await handle.db
        .selectFrom('console_sessions')
        .select('token_hash')
        .where('user_id', '=', user.id)
        .execute();
      return { ...row, sessions: sessions.length };
    };
    const userActions: AuditAction[] = [
      'user.unlock',
      'user.set_password',
      'user.disable',
      'user.enable',
      'user.sign_out_everywhere',
    ];
    const changes = async () =>
      (
        await handle.db
          .selectFrom('audit_events')
          .select(['action', 'target', 'actor_id', 'counts', 'at'])
          .where('action', 'in', userActions)
          .orderBy('id')
          .execute()
      ).map((e) => ({
        ...e,
        counts: e.counts === null ? null : JSON.parse(e.counts),
        at: Number(e.at),
      }));
    const by = { target: user.id, actor_id: admin.id };
    /** `change` refused with its event, then done: one change, one event, `expected`. */
    const refusedThenDone = async <T>(
      change: () => Promise<T>,
      expected: { action: string; counts: Record<string, number> | null },
    ): Promise<T> => {
      const before = { state: await state(), changes: await changes() };
      await refusedLeavesNothing(change);
      assert.deepEqual(
        { state: await state(), changes: await changes() },
        before,
        `${expected.action}: nothing changed without its event`,
      );
      const answer = await change();
      const after = await changes();
      assert.deepEqual(
        after.slice(before.changes.length).map(({ at: _, ...e }) => e),
        [{ ...expected, ...by }],
      );
      return answer;
    };

    await handle.db
      .updateTable('console_users')
      .set({ failed_sign_ins: 3 })
      .where('id', '=', user.id)
      .execute();
    assert.equal(
      await refusedThenDone(() => accounts.unlock(admin, user), {
        action: 'user.unlock',
        counts: null,
      }),
      true,
    );
    assert.equal((await state()).failed_sign_ins, 0);

    await signIn();
    assert.equal(
      await refusedThenDone(() => accounts.setPassword(admin, user, password), {
        action: 'user.set_password',
        counts: { sessions_ended: 1 },
      }),
      1,
    );
    assert.equal((await state()).sessions, 0);

    await signIn();
    assert.equal(
      await refusedThenDone(() => accounts.signOutEverywhere(admin, user), {
        action: 'user.sign_out_everywhere',
        counts: { sessions_ended: 1 },
      }),
      1,
    );

    await signIn();
    assert.equal(
      await refusedThenDone(() => accounts.disable(admin, user), {
        action: 'user.disable',
        counts: { sessions_ended: 1 },
      }),
      1,
    );
    const disabledAt = Number((await state()).disabled_at);
    assert.equal((await changes()).at(-1)?.at, disabledAt, 'recorded at the time it was disabled');

    assert.equal(
      await refusedThenDone(() => accounts.enable(admin, user), {
        action: 'user.enable',
        counts: null,
      }),
      true,
    );
    assert.equal((await state()).disabled_at, null);

    // Nothing to change (nothing to unlock, enabled already): nothing recorded.
    const recorded = await changes();
    assert.equal(await accounts.unlock(admin, user), false);
    assert.equal(await accounts.enable(admin, user), false);
    assert.deepEqual(await changes(), recorded);
  });
});

/**
 * The same over the API, on real HTTP: a unit's SendGrid event relay put or deleted
 * (sendgrid_event_relay.put, sendgrid_event_relay.delete) and a unit's settings changed
 * (unit.update; the console's units form goes through the same AlertsService.updateSettings).
 * With audit events refused, the request fails with the API's internal_error, which says nothing
 * was changed, and nothing was; done, one change and one event at the change's own time.
 */
describe(`an operator's change over the API and its audit event, together (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let handle: DatabaseHandle;
  let hotel: string;
  let bootstrapKeyId: string;

  before(async () => {
    tegami = await startTestService(
      { TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true', TEGAMI_TEST_NO_WORKER: '1' },
      { housekeeping: false },
    );
    handle = tegami.service.database;
    const made = await tegami.request('POST', '/v1/units', { name: 'hotel' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    hotel = made.body.id;
    const key = await handle.db
      .selectFrom('api_keys')
      .select('id')
      .where('key_hash', '=', hashApiKey(TEST_KEY))
      .executeTakeFirstOrThrow();
    bootstrapKeyId = key.id;
  });
  after(async () => {
    await tegami?.stop();
  });

  /** The request, with audit events refused: the API's clean 500, which says nothing changed. */
  async function refused(method: string, path: string, body?: unknown): Promise<void> {
    const answer = await withAuditRefused(handle, () => tegami.request(method, path, body));
    assert.equal(answer.status, 500, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, NOTHING_CHANGED);
  }

  /** The events of `actions`, oldest first, with their time and filter. */
  function eventsOf(...actions: AuditAction[]) {
    return auditEventsOf(handle, actions, [
      'action',
      'target',
      'actor_id',
      'unit_id',
      'filter',
      'at',
    ]);
  }

  test("a unit's SendGrid event relay put, moved and deleted: each with its event or not at all", async () => {
    const relays = async () =>
      (
        await handle.db
          .selectFrom('sendgrid_event_relays')
          .select(['unit_id', 'url', 'public_key', 'updated_at'])
          .execute()
      ).map((r) => ({ ...r, updated_at: Number(r.updated_at) }));
    const queued = async () =>
      (await handle.db.selectFrom('sendgrid_relay_events').select('event_key').execute()).map(
        (e) => e.event_key,
      );
    const changes = () => eventsOf('sendgrid_event_relay.put', 'sendgrid_event_relay.delete');
    const put = (url: string) => ({ url, unit: 'hotel' });
    const byOperator = { target: hotel, actor_id: bootstrapKeyId, unit_id: hotel };

    await refused('PUT', '/v1/sendgrid/event-relay', put('http://127.0.0.1:9/events'));
    assert.deepEqual(await relays(), [], 'no relay without its sendgrid_event_relay.put');
    assert.deepEqual(await changes(), []);

    const made = await tegami.request(
      'PUT',
      '/v1/sendgrid/event-relay',
      put('http://127.0.0.1:9/events'),
    );
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const [relay] = await relays();
    assert.ok(relay);
    const first = {
      action: 'sendgrid_event_relay.put',
      ...byOperator,
      filter: { url: 'http://127.0.0.1:9/events' },
      at: relay.updated_at,
    };
    assert.deepEqual(await changes(), [first], "one event, at the relay's own time");

    // An event queued for the relay: a refused removal keeps it, as it keeps the relay.
    await handle.db
      .insertInto('sendgrid_relay_events')
      .values({
        event_key: 'evt_queued',
        unit_id: hotel,
        x_message_id: 'x-message-id',
        status: 'failed',
        attempts: 1,
        queued_at: Date.now(),
        next_attempt_at: null,
      })
      .execute();

    await new Promise((resolve) => setTimeout(resolve, 5));
    await refused('PUT', '/v1/sendgrid/event-relay', put('http://127.0.0.1:9/moved'));
    assert.deepEqual(await relays(), [relay], 'not moved without its event');
    assert.deepEqual(await changes(), [first]);

    const moved = await tegami.request(
      'PUT',
      '/v1/sendgrid/event-relay',
      put('http://127.0.0.1:9/moved'),
    );
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.public_key, made.body.public_key, 'the key pair kept');
    const [movedRelay] = await relays();
    assert.ok(movedRelay && movedRelay.updated_at > relay.updated_at);
    const second = {
      ...first,
      filter: { url: 'http://127.0.0.1:9/moved' },
      at: movedRelay.updated_at,
    };
    assert.deepEqual(await changes(), [first, second]);

    // The URL it has put again: written again, and recorded, as every put is.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const again = await tegami.request(
      'PUT',
      '/v1/sendgrid/event-relay',
      put('http://127.0.0.1:9/moved'),
    );
    assert.equal(again.status, 200, JSON.stringify(again.body));
    const [againRelay] = await relays();
    assert.ok(againRelay);
    const third = { ...second, at: againRelay.updated_at };
    assert.deepEqual(await changes(), [first, second, third]);

    await refused('DELETE', '/v1/sendgrid/event-relay?unit=hotel');
    assert.deepEqual(await relays(), [againRelay], 'not removed without its event');
    assert.deepEqual(await queued(), ['evt_queued'], 'its queue kept');
    assert.deepEqual(await changes(), [first, second, third]);

    const start = Date.now();
    const deleted = await tegami.request('DELETE', '/v1/sendgrid/event-relay?unit=hotel');
    const end = Date.now();
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    assert.deepEqual(await relays(), []);
    assert.deepEqual(await queued(), []);
    const events = await changes();
    assert.equal(events.length, 4);
    const removal = events[3];
    assert.ok(removal && removal.at >= start && removal.at <= end, 'at the time it was removed');
    assert.deepEqual(removal, {
      action: 'sendgrid_event_relay.delete',
      ...byOperator,
      filter: null,
      at: removal.at,
    });

    // No relay to delete: 404, nothing recorded.
    const gone = await tegami.request('DELETE', '/v1/sendgrid/event-relay?unit=hotel');
    assert.equal(gone.status, 404, JSON.stringify(gone.body));
    assert.deepEqual(await changes(), events);
  });

  test("a unit's settings changed (PUT /v1/units/{id}, the console's units form): with their unit.update or not at all", async () => {
    const settings = async () => {
      const row = await handle.db
        .selectFrom('unit_alert_settings')
        .select(['slack_webhook_url', 'overrides', 'updated_at'])
        .where('unit_id', '=', hotel)
        .executeTakeFirst();
      return row ? { ...row, updated_at: Number(row.updated_at) } : null;
    };
    const shown = async () => (await tegami.request('GET', '/v1/units/hotel')).body;
    const changes = () => eventsOf('unit.update');
    const secret = 'https://8.8.8.8/services/T000/B000/very-secret-token';
    const change = {
      slack_webhook_url: secret,
      alerts: { delay_s: 120 },
      rate_limit_per_min: 600,
    };
    const before = await shown();

    await refused('PUT', '/v1/units/hotel', change);
    assert.equal(await settings(), null, 'no settings written without their unit.update');
    assert.deepEqual(await shown(), before);
    assert.deepEqual(await changes(), []);

    const set = await tegami.request('PUT', '/v1/units/hotel', change);
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.alerts, {
      slack_webhook_url: 'https://8.8.8.8/services/…',
      thresholds: { delay_s: 120 },
    });
    assert.equal(set.body.rate_limit_per_min, 600);
    const written = await settings();
    assert.ok(written);
    assert.equal(written.slack_webhook_url, secret);
    const byOperator = {
      action: 'unit.update',
      target: hotel,
      actor_id: bootstrapKeyId,
      unit_id: hotel,
    };
    const first = {
      ...byOperator,
      // What changed, never the URL itself.
      filter: { slack_webhook_url: 'set', alerts: { delay_s: 120 }, rate_limit_per_min: 600 },
      at: written.updated_at,
    };
    assert.deepEqual(await changes(), [first], "one event, at the settings' own time");

    await new Promise((resolve) => setTimeout(resolve, 5));
    await refused('PUT', `/v1/units/${hotel}`, { alerts: { muted: true } });
    assert.deepEqual(await settings(), written, 'not muted without its unit.update');
    assert.deepEqual(await changes(), [first]);

    const muted = await tegami.request('PUT', `/v1/units/${hotel}`, { alerts: { muted: true } });
    assert.equal(muted.status, 200, JSON.stringify(muted.body));
    assert.deepEqual(muted.body.alerts.thresholds, { delay_s: 120, muted: true });
    const mutedSettings = await settings();
    assert.ok(mutedSettings && mutedSettings.updated_at > written.updated_at);
    const second = {
      ...byOperator,
      filter: { alerts: { delay_s: 120, muted: true } },
      at: mutedSettings.updated_at,
    };
    assert.deepEqual(await changes(), [first, second]);

    // Nothing asked to change: nothing written, nothing recorded.
    assert.equal((await tegami.request('PUT', '/v1/units/hotel', {})).status, 200);
    assert.deepEqual(await settings(), mutedSettings);
    assert.deepEqual(await changes(), [first, second]);
  });
});

/**
 * A status webhook endpoint an operator creates, deletes, gives a new secret or redelivers to,
 * through the API and the console alike, is written with its webhook_endpoint.* event in one
 * transaction: refused, the request fails with nothing changed; done, one event at the change's
 * own time, with the fields the audit log has always shown.
 */
describe(`an operator's change to a status webhook endpoint and its audit event, together (${TEST_ENGINE})`, () => {
  const ADMIN = { email: 'admin@example.jp', password: 'admin-password-1234' };
  /** Nothing listens there, and no worker runs to post to it: the endpoints are only written. */
  const HOOK_URL = 'http://127.0.0.1/tegami-hooks';
  const ENDPOINT_ACTIONS: AuditAction[] = [
    'webhook_endpoint.create',
    'webhook_endpoint.delete',
    'webhook_endpoint.redeliver',
    'webhook_endpoint.rotate_secret',
  ];
  let tegami: TestService;
  let handle: DatabaseHandle;
  let admin: ConsoleClient;
  let hotelId = '';

  before(async () => {
    tegami = await startTestService(
      {
        TEGAMI_TEST_NO_WORKER: '1',
        TEGAMI_ADMIN_EMAIL: ADMIN.email,
        TEGAMI_ADMIN_PASSWORD: ADMIN.password,
        TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      },
      { housekeeping: false },
    );
    handle = tegami.service.database;
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const hotel = await tegami.request('POST', '/v1/units', { name: 'hotel' });
    assert.equal(hotel.status, 201, JSON.stringify(hotel.body));
    hotelId = hotel.body.id;
  });
  after(async () => {
    await tegami?.stop();
  });

  /** The endpoints and their status webhooks as stored, every column a change could touch. */
  async function stored() {
    const endpoints = await handle.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .orderBy('id')
      .execute();
    const deliveries = await handle.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'status', 'attempts', 'next_attempt_at', 'retry_from', 'last_error'])
      .orderBy('id')
      .execute();
    return { endpoints, deliveries };
  }

  function endpointEvents() {
    return auditEventsOf(handle, ENDPOINT_ACTIONS, [
      'action',
      'target',
      'actor_type',
      'unit_id',
      'at',
      'filter',
      'counts',
    ]);
  }

  async function endpointRow(id: string) {
    return handle.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  }

  /** Two status webhooks to `endpointId` that failed for good, as the sender leaves them. */
  async function failedDeliveries(endpointId: string): Promise<void> {
    const at = Date.now() - 60_000;
    await handle.db
      .insertInto('webhook_deliveries')
      .values(
        [1, 2].map(() => ({
          id: newId('whd'),
          endpoint_id: endpointId,
          event_type: 'message.sent',
          payload: '{}',
          message_id: newId('msg'),
          status: 'failed',
          attempts: 8,
          next_attempt_at: null,
          last_status: 503,
          last_error: 'HTTP 503',
          last_error_at: at,
          created_at: at,
          retry_from: at,
          delivered_at: null,
        })),
      )
      .execute();
  }

  /**
   * `change` asked while audit events are refused: answered `refusedStatus`, with nothing
   * changed and nothing recorded. Then asked again: answered what it answers, with `recorded`
   * the events it added.
   */
  async function refusedThenDone<T extends { status: number }>(
    what: string,
    change: () => Promise<T>,
    refusedStatus: number,
  ): Promise<{ refused: T; answer: T; recorded: Awaited<ReturnType<typeof endpointEvents>> }> {
    const before = { stored: await stored(), events: await endpointEvents() };
    const refused = await withAuditRefused(handle, change);
    assert.equal(refused.status, refusedStatus, `${what}, refused: ${JSON.stringify(refused)}`);
    assert.deepEqual(
      { stored: await stored(), events: await endpointEvents() },
      before,
      `${what}: nothing changed without its event`,
    );
    const answer = await change();
    return { refused, answer, recorded: (await endpointEvents()).slice(before.events.length) };
  }

  /** The API's answer to a change whose event was refused: an error that says nothing changed. */
  function assertRefusedCleanly(what: string, refused: { body: unknown }): void {
    assert.deepEqual(refused.body, NOTHING_CHANGED, what);
  }

  test('through the API: create, redeliver, rotate the secret and delete, each with its event or not at all', async () => {
    const created = await refusedThenDone(
      'create',
      () =>
        tegami.request('POST', '/v1/webhook-endpoints', {
          url: HOOK_URL,
          events: ['message.sent', 'message.failed'],
        }),
      500,
    );
    assertRefusedCleanly('create', created.refused);
    assert.equal(created.answer.status, 201, JSON.stringify(created.answer.body));
    const { id } = created.answer.body;
    const byKey = { target: id, actor_type: 'key', unit_id: null };
    const createdRow = await endpointRow(id);
    assert.deepEqual(created.recorded, [
      {
        ...byKey,
        action: 'webhook_endpoint.create',
        at: Number(createdRow.created_at),
        filter: { url: HOOK_URL, events: ['message.sent', 'message.failed'] },
        counts: null,
      },
    ]);

    await failedDeliveries(id);
    const redeliver = () =>
      tegami.request('POST', `/v1/webhook-endpoints/${id}/redeliver`, {
        since: '2020-01-01T00:00:00Z',
      });
    const redelivered = await refusedThenDone('redeliver', redeliver, 500);
    assertRefusedCleanly('redeliver', redelivered.refused);
    assert.equal(redelivered.answer.status, 200, JSON.stringify(redelivered.answer.body));
    assert.deepEqual(redelivered.answer.body, { requeued: 2 });
    const requeued = (await stored()).deliveries;
    assert.deepEqual(
      requeued.map((d) => d.status),
      ['pending', 'pending'],
    );
    const redeliverEvent = {
      ...byKey,
      action: 'webhook_endpoint.redeliver',
      filter: { since: '2020-01-01T00:00:00.000Z' },
    };
    assert.deepEqual(redelivered.recorded, [
      { ...redeliverEvent, at: Number(requeued[0]?.retry_from), counts: { requeued: 2 } },
    ]);
    // Asked again with nothing failed: recorded again, as every redeliver request is.
    const again = await redeliver();
    assert.deepEqual(again.body, { requeued: 0 });
    const [nothingRequeued] = (await endpointEvents()).slice(-1);
    assert.deepEqual(
      { ...nothingRequeued, at: 0 },
      { ...redeliverEvent, at: 0, counts: { requeued: 0 } },
    );

    const rotated = await refusedThenDone(
      'rotate the secret',
      () =>
        tegami.request('POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {
          keep_previous_for_seconds: 60,
        }),
      500,
    );
    assertRefusedCleanly('rotate the secret', rotated.refused);
    assert.equal(rotated.answer.status, 200, JSON.stringify(rotated.answer.body));
    const rotatedRow = await endpointRow(id);
    assert.equal(rotatedRow.secret, rotated.answer.body.secret);
    assert.equal(rotatedRow.previous_secret, created.answer.body.secret);
    assert.deepEqual(rotated.recorded, [
      {
        ...byKey,
        action: 'webhook_endpoint.rotate_secret',
        at: Number(rotatedRow.previous_secret_expires_at) - 60_000,
        filter: { keep_previous_for_seconds: 60 },
        counts: null,
      },
    ]);

    // Refused, the endpoint stays active and its waiting status webhooks stay waiting.
    const deleted = await refusedThenDone(
      'delete',
      () => tegami.request('DELETE', `/v1/webhook-endpoints/${id}`),
      500,
    );
    assertRefusedCleanly('delete', deleted.refused);
    assert.equal(deleted.answer.status, 204);
    const deletedRow = await endpointRow(id);
    assert.notEqual(deletedRow.disabled_at, null);
    assert.deepEqual(
      (await stored()).deliveries.map((d) => [d.status, d.last_error]),
      [
        ['failed', 'endpoint deleted'],
        ['failed', 'endpoint deleted'],
      ],
    );
    assert.deepEqual(deleted.recorded, [
      {
        ...byKey,
        action: 'webhook_endpoint.delete',
        at: Number(deletedRow.disabled_at),
        filter: null,
        counts: null,
      },
    ]);

    // Nothing left to change: each answers 404, and nothing is recorded.
    const recorded = await endpointEvents();
    assert.equal((await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`)).status, 404);
    assert.equal(
      (await tegami.request('POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {})).status,
      404,
    );
    assert.equal((await redeliver()).status, 404);
    assert.deepEqual(await endpointEvents(), recorded);
  });

  test('through the console: add, redeliver, rotate the secret and delete, each with its event or not at all', async () => {
    const earlier = new Set((await stored()).endpoints.map((e) => e.id));
    const added = await refusedThenDone(
      'add',
      () =>
        admin.post('/console/webhooks', { url: HOOK_URL, events: 'message.sent', unit: hotelId }),
      500,
    );
    assert.equal(added.answer.status, 200, added.answer.text);
    const [endpoint] = (await stored()).endpoints.filter((e) => !earlier.has(e.id));
    assert.ok(endpoint);
    const { id } = endpoint;
    assert.match(added.answer.text, new RegExp(`data-new-secret>${endpoint.secret}<`));
    const byUser = { target: id, actor_type: 'console', unit_id: hotelId };
    assert.deepEqual(added.recorded, [
      {
        ...byUser,
        action: 'webhook_endpoint.create',
        at: Number(endpoint.created_at),
        filter: { url: HOOK_URL, events: ['message.sent'] },
        counts: null,
      },
    ]);

    await failedDeliveries(id);
    const redelivered = await refusedThenDone(
      'redeliver',
      () => admin.post(`/console/webhooks/${id}/redeliver`, {}),
      500,
    );
    assert.equal(redelivered.answer.status, 303, redelivered.answer.text);
    assert.match(redelivered.answer.location ?? '', /count=2/);
    const requeued = (await stored()).deliveries.filter((d) => d.status === 'pending');
    assert.equal(requeued.length, 2);
    assert.deepEqual(redelivered.recorded, [
      {
        ...byUser,
        action: 'webhook_endpoint.redeliver',
        at: Number(requeued[0]?.retry_from),
        filter: null,
        counts: { requeued: 2 },
      },
    ]);

    const rotated = await refusedThenDone(
      'rotate the secret',
      () => admin.post(`/console/webhooks/${id}/rotate-secret`, { keep_previous_for_seconds: '0' }),
      500,
    );
    assert.equal(rotated.answer.status, 200, rotated.answer.text);
    const rotatedRow = await endpointRow(id);
    assert.notEqual(rotatedRow.secret, endpoint.secret);
    assert.equal(rotatedRow.previous_secret, null);
    assert.match(rotated.answer.text, new RegExp(`data-new-secret>${rotatedRow.secret}<`));
    assert.equal(rotated.recorded.length, 1);
    const [rotateEvent] = rotated.recorded;
    assert.ok(rotateEvent && Math.abs(rotateEvent.at - Date.now()) < 60_000);
    assert.deepEqual(
      { ...rotateEvent, at: 0 },
      {
        ...byUser,
        action: 'webhook_endpoint.rotate_secret',
        at: 0,
        filter: { keep_previous_for_seconds: 0 },
        counts: null,
      },
    );

    const deleted = await refusedThenDone(
      'delete',
      () => admin.post(`/console/webhooks/${id}/delete`, {}),
      500,
    );
    assert.equal(deleted.answer.status, 303, deleted.answer.text);
    const deletedRow = await endpointRow(id);
    assert.notEqual(deletedRow.disabled_at, null);
    assert.deepEqual(deleted.recorded, [
      {
        ...byUser,
        action: 'webhook_endpoint.delete',
        at: Number(deletedRow.disabled_at),
        filter: null,
        counts: null,
      },
    ]);

    // The button clicked twice: the page again, nothing more recorded.
    const recorded = await endpointEvents();
    const twice = await admin.post(`/console/webhooks/${id}/delete`, {});
    assert.equal(twice.status, 303);
    assert.deepEqual(await endpointEvents(), recorded);
  });

  test('a redeliver that finds its endpoint deleted since it looked queues nothing and records nothing', async () => {
    const made = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: HOOK_URL,
      events: ['message.failed'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { id } = made.body;
    const store = new SqlWebhookStore(handle);
    // Found as the routes find it, then deleted by another request before the redeliver.
    const endpoint = await store.find(id, undefined);
    assert.ok(endpoint);
    await failedDeliveries(id);
    assert.equal((await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`)).status, 204);
    const before = { stored: await stored(), events: await endpointEvents() };
    const operator: Actor = { type: 'cli', id: 'ops', name: null };
    assert.equal(
      await redeliverByHand(store, operator, { endpoint, since: null }, Date.now()),
      null,
    );
    assert.deepEqual({ stored: await stored(), events: await endpointEvents() }, before);
  });

  /**
   * The backend whose lock wait `holder` (a backend's pid) is one cause of, if any: who waits
   * for a lock it holds, read from PostgreSQL's own view instead of guessed from the time taken;
   * with `statement`, only one waiting in a statement like it (an `ilike` pattern).
   */
  async function waitingFor(holder: number, statement = '%'): Promise<number | undefined> {
    const waiting = await sql<{ pid: number }>`select pid from pg_stat_activity
      where ${holder}::int = any(pg_blocking_pids(pid)) and query ilike ${statement}`.execute(
      handle.db,
    );
    return waiting.rows[0]?.pid;
  }
  /** The redeliver's wait: its read of the endpoint, locked, and not some other backend's. */
  const LOCKED_READ = '%for update%';

  test('a redeliver that meets a delete in progress waits for it, then queues nothing and records nothing', {
    skip:
      TEST_ENGINE !== 'postgres' &&
      'PostgreSQL only: SQLite runs one write transaction at a time, so a delete cannot be in progress while a redeliver starts',
  }, async () => {
    const made = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: HOOK_URL,
      events: ['message.failed'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { id } = made.body;
    await failedDeliveries(id);
    const before = { stored: await stored(), events: await endpointEvents() };

    // The real delete, paused after its writes (the endpoint marked deleted, its row locked) at
    // its audit event, until the lock this test holds is let go: a delete between its update and
    // its commit, held there for as long as the test needs.
    const PAUSE = 'pause_endpoint_delete';
    await sql`create function pause_endpoint_delete() returns trigger language plpgsql as $$
      begin perform pg_advisory_xact_lock(hashtextextended(${sql.lit(PAUSE)}, 0)); return new; end $$`.execute(
      handle.db,
    );
    await sql`create trigger pause_endpoint_delete before insert on audit_events for each row
      when (new.action = 'webhook_endpoint.delete') execute function pause_endpoint_delete()`.execute(
      handle.db,
    );
    let deleting: Promise<{ status: number }> | undefined;
    let redelivering: Promise<{ status: number; body: unknown }> | undefined;
    let redeliverAnswered = false;
    try {
      await handle.db.transaction().execute(async (trx) => {
        await handle.dialect.advisoryXactLock(trx, PAUSE);
        const pauser = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx))
          .rows[0]?.pid;
        assert.ok(pauser);
        deleting = tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
        const deleter = await waitFor(
          () => waitingFor(pauser),
          'the delete to pause at its audit event, its writes made',
        );
        redelivering = tegami
          .request('POST', `/v1/webhook-endpoints/${id}/redeliver`, {})
          .finally(() => {
            redeliverAnswered = true;
          });
        // Either it waits for the delete's lock on the endpoint, or it is answered without.
        await waitFor(
          async () => redeliverAnswered || (await waitingFor(deleter, LOCKED_READ)),
          'the redeliver to wait for the delete, or to be answered',
        );
        assert.equal(redeliverAnswered, false, 'the redeliver did not wait for the delete');
        // A while later, still unanswered and still waiting: held until the commit, not slow.
        await sleep(200);
        assert.equal(redeliverAnswered, false, 'the redeliver was answered before the delete');
        assert.ok(
          await waitingFor(deleter, LOCKED_READ),
          'the redeliver still waits for the delete',
        );
      });
    } finally {
      // Let go by the commit or the rollback above: both requests end, whatever was asserted.
      await Promise.allSettled([deleting, redelivering]);
      await sql`drop trigger pause_endpoint_delete on audit_events`.execute(handle.db);
      await sql`drop function pause_endpoint_delete()`.execute(handle.db);
    }

    assert.equal((await deleting)?.status, 204);
    const redelivered = await redelivering;
    assert.deepEqual(
      { status: redelivered?.status, body: redelivered?.body },
      { status: 404, body: { error: { code: 'not_found', message: `no webhook endpoint ${id}` } } },
    );
    // Deleted, and its status webhooks stay failed as the sender left them: none queued again.
    const deletedRow = await endpointRow(id);
    assert.notEqual(deletedRow.disabled_at, null);
    const afterBoth = await stored();
    assert.deepEqual(
      afterBoth.endpoints.map((e) => (e.id === id ? { ...e, disabled_at: null } : e)),
      before.stored.endpoints,
    );
    assert.deepEqual(afterBoth.deliveries, before.stored.deliveries);
    // The delete recorded, the redeliver not.
    assert.deepEqual(await endpointEvents(), [
      ...before.events,
      {
        target: id,
        actor_type: 'key',
        unit_id: null,
        action: 'webhook_endpoint.delete',
        at: Number(deletedRow.disabled_at),
        filter: null,
        counts: null,
      },
    ]);
  });

  test('a redeliver to an endpoint of every unit is recorded under none, from the console as through the API', async () => {
    const made = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: HOOK_URL,
      events: ['message.failed'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { id } = made.body;
    await failedDeliveries(id);
    const before = (await endpointEvents()).length;
    const fromConsole = await admin.post(`/console/webhooks/${id}/redeliver`, {});
    assert.equal(fromConsole.status, 303, fromConsole.text);
    await failedDeliveries(id);
    const fromApi = await tegami.request('POST', `/v1/webhook-endpoints/${id}/redeliver`, {});
    assert.equal(fromApi.status, 200, JSON.stringify(fromApi.body));
    const recorded = (await endpointEvents()).slice(before);
    assert.deepEqual(
      recorded.map((e) => ({ action: e.action, actor: e.actor_type, unit: e.unit_id })),
      [
        { action: 'webhook_endpoint.redeliver', actor: 'console', unit: null },
        { action: 'webhook_endpoint.redeliver', actor: 'key', unit: null },
      ],
    );
  });
});
