import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { ulid } from 'ulidx';
import { BOOTSTRAP_KEY_NAME } from '../src/domain/api-keys.ts';
import { type AuditFilter, readActorFilter, START_ACTORS } from '../src/domain/operations/audit.ts';
import { auditPageQuery } from '../src/store/audit/list.ts';
import type { DatabaseHandle } from '../src/store/engine/handle.ts';
import { migrateTo, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { TEST_ENGINE, type TempDatabase, tempDatabase } from './helpers.ts';

/**
 * Migration 029 adds `audit_events_actor_name` (`actor_type, actor_name, id`), and the actor
 * filter reads each way an actor may be recorded as one range of an index (store/audit/list.ts)
 * instead of one `or` over the whole log. The log is filled at 028, asked at 028 with the query
 * of that release, upgraded, and asked the same again: every answer is the same, page by page.
 */
describe(`the audit log's actor filter from migration 029 on (${TEST_ENGINE})`, () => {
  const EVENTS = 12_000;
  const FIRST_AT = Date.parse('2026-01-01T00:00:00Z');
  let db: TempDatabase;
  let handle: DatabaseHandle;
  const units = ['unit_A', 'unit_B', 'unit_C'];

  /** Who acted, with what the log recorded: names shared, names like ids, no name at all. */
  const ACTORS = [
    { type: 'key', id: 'key_HOTEL1', name: 'hotel app' },
    // A key made with the name of one revoked before it: both are `hotel app`.
    { type: 'key', id: 'key_HOTEL2', name: 'hotel app' },
    { type: 'key', id: 'key_SHOP', name: 'shop' },
    { type: 'key', id: 'key_BOOT', name: BOOTSTRAP_KEY_NAME },
    // A key named like a console user's id: `usr_OPS` finds both.
    { type: 'key', id: 'key_ODD', name: 'usr_OPS' },
    { type: 'console', id: 'usr_OPS', name: 'ops@example.jp' },
    { type: 'console', id: 'usr_NIGHT', name: 'night@example.jp' },
    // An OS user named as its id: each of its events is found both ways, and shown once.
    { type: 'cli', id: 'deploy', name: 'deploy' },
    { type: 'cli', id: 'root', name: null },
    START_ACTORS.firstKey,
  ];
  const OLD = { type: 'key', id: 'key_OLD', name: 'old app' };
  const RARE = { type: 'key', id: 'key_RARE', name: 'rare' };
  const ACTIONS = ['message.retry', 'key.create', 'suppression.add', 'unit.update'];

  /** Each, as an operator types who they look for. */
  const ASKED = [
    'hotel app',
    'key:hotel app',
    'console:hotel app',
    'key_HOTEL1',
    'cli:key_HOTEL1',
    'shop',
    'bootstrap',
    'usr_OPS',
    'console:usr_OPS',
    'OPS@Example.JP',
    'console:ops@example.jp',
    'key:ops@example.jp',
    'deploy',
    'cli:deploy',
    'key:deploy',
    'root',
    'first start',
    'old app',
    'rare',
    'nobody',
  ];

  /** The filters each is asked with: alone, with every other filter, pages small and large. */
  const FILTERS: Omit<AuditFilter, 'actor'>[] = [
    { limit: 51 },
    { limit: 1 },
    { limit: 51, action: 'key.create' },
    { limit: 51, unitId: 'unit_B' },
    { limit: 51, after: FIRST_AT + 3_000_000, before: FIRST_AT + 6_000_000 },
    { limit: 20, unitId: 'unit_A', action: 'message.retry', after: FIRST_AT + 1_000_000 },
  ];

  /** The answers at 028, by case. */
  const asked028 = new Map<string, string[]>();
  const caseOf = (who: string, filter: object | string) => JSON.stringify([who, filter]);

  before(async () => {
    db = tempDatabase();
    handle = openDatabase(db.url);
    await migrateTo(handle.db, '028-webhook-delivery-error-time');
    let s = 42;
    const random = () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    for (let offset = 0; offset < EVENTS; offset += 1_000) {
      const rows = Array.from({ length: 1_000 }, (_, j) => {
        const i = offset + j;
        const at = FIRST_AT + i * 1_000;
        const actor =
          i % 500 === 251
            ? RARE
            : i < EVENTS / 20 && i % 2 === 0
              ? OLD
              : (ACTORS[Math.floor(random() * ACTORS.length)] ?? OLD);
        return {
          id: `aud_${ulid(at)}`,
          at,
          actor_type: actor.type,
          actor_id: actor.id,
          actor_name: actor.name,
          unit_id: units[i % 4] ?? null,
          action: ACTIONS[Math.floor(random() * ACTIONS.length)] ?? 'message.retry',
          target: null,
          filter: null,
          counts: null,
        };
      });
      await handle.db.insertInto('audit_events').values(rows).execute();
    }
    for (const who of ASKED) {
      for (const filter of FILTERS) {
        asked028.set(caseOf(who, filter), await asBefore029(handle, { ...filter, actor: who }));
      }
      asked028.set(caseOf(who, 'every page'), await everyPage(who, asBefore029));
    }
    await migrateToLatest(handle.db);
    // As autovacuum would, on a log this size: the plans below are those of a real log.
    if (TEST_ENGINE === 'postgres') await sql`analyze audit_events`.execute(handle.db);
  });

  after(async () => {
    await handle?.close();
    await db?.cleanup();
  });

  /** Every page of `who`'s events, 97 at a time, each after the last one's cursor. */
  async function everyPage(
    who: string,
    list: (
      handle: DatabaseHandle,
      q: Omit<AuditFilter, 'actor'> & { actor: string },
    ) => Promise<string[]>,
  ) {
    const all: string[] = [];
    for (let beforeId: string | undefined; ; ) {
      const page = await list(handle, { limit: 97, actor: who, ...(beforeId ? { beforeId } : {}) });
      all.push(...page);
      if (page.length < 97) return all;
      beforeId = page[page.length - 1];
    }
  }

  test('the migration adds the index', async () => {
    const found =
      TEST_ENGINE === 'sqlite'
        ? await sql<{ sql: string }>`select sql from sqlite_master
            where type = 'index' and name = 'audit_events_actor_name'`.execute(handle.db)
        : await sql<{ sql: string }>`select indexdef as sql from pg_indexes
            where schemaname = current_schema() and indexname = 'audit_events_actor_name'`.execute(
            handle.db,
          );
    assert.equal(found.rows.length, 1);
    assert.match(found.rows[0]?.sql ?? '', /\(\s*"?actor_type"?,\s*"?actor_name"?,\s*"?id"?\s*\)/);
  });

  test('every actor, with every other filter and page by page, finds what it found before', async () => {
    const sizes: Record<string, number> = {};
    for (const who of ASKED) {
      for (const filter of FILTERS) {
        const key = caseOf(who, filter);
        assert.deepEqual(await asNow(handle, { ...filter, actor: who }), asked028.get(key), key);
      }
      const all = await everyPage(who, asNow);
      assert.deepEqual(all, asked028.get(caseOf(who, 'every page')), `${who}: every page`);
      assert.equal(new Set(all).size, all.length, `${who}: each event once`);
      sizes[who] = all.length;
    }
    // The cases are what they are meant to be: many events, few, none.
    assert.ok((sizes['hotel app'] ?? 0) > 1_000, JSON.stringify(sizes));
    assert.equal(sizes.rare, EVENTS / 500);
    assert.equal(sizes['old app'], EVENTS / 40);
    assert.equal(sizes.nobody, 0);
    assert.equal(sizes.deploy, sizes['cli:deploy']);
    assert.equal(sizes['key:deploy'], 0);
    assert.ok((sizes.usr_OPS ?? 0) > (sizes['console:usr_OPS'] ?? 0), 'a key named usr_OPS too');
  });

  test('each way of being recorded is one range of an index, read newest first', async () => {
    const explain = TEST_ENGINE === 'sqlite' ? 'explain query plan' : 'explain';
    const newest = (await asNow(handle, { limit: 1, actor: 'hotel app' }))[0];
    for (const filter of [{ limit: 51 }, { limit: 51, beforeId: newest }]) {
      for (const who of ['hotel app', 'old app', 'nobody', 'cli:deploy']) {
        const compiled = auditPageQuery(handle, {
          ...filter,
          actor: readActorFilter(who),
        }).compile();
        const plan = await handle.db.executeQuery(
          CompiledQuery.raw(`${explain} ${compiled.sql}`, [...compiled.parameters]),
        );
        const text = JSON.stringify(plan.rows);
        const label = `${who} ${JSON.stringify(filter)}: ${text}`;
        if (TEST_ENGINE === 'sqlite') {
          assert.match(
            text,
            /SEARCH audit_events USING INDEX audit_events_actor \(actor_id>\?/,
            label,
          );
          assert.match(
            text,
            /SEARCH audit_events USING INDEX audit_events_actor_name \(actor_type=\? AND actor_name>\?/,
            label,
          );
          assert.doesNotMatch(text, /SCAN audit_events/, label);
        } else {
          assert.match(text, /Index Scan Backward using audit_events_actor on/, label);
          assert.match(text, /Index Scan Backward using audit_events_actor_name on/, label);
          assert.doesNotMatch(text, /Seq Scan|pkey/, label);
        }
      }
    }
  });
});

/** The ids the store answers now. */
async function asNow(
  handle: DatabaseHandle,
  { actor, ...filter }: Omit<AuditFilter, 'actor'> & { actor: string },
): Promise<string[]> {
  const rows = await auditPageQuery(handle, { ...filter, actor: readActorFilter(actor) }).execute();
  return rows.map((r) => r.id);
}

/** The ids the store answered before 029: the actor's every way in one `or`. */
async function asBefore029(
  handle: DatabaseHandle,
  { actor, ...filter }: Omit<AuditFilter, 'actor'> & { actor: string },
): Promise<string[]> {
  const { type, id, names } = readActorFilter(actor);
  let query = handle.db
    .selectFrom('audit_events')
    .select('id')
    .where((eb) => {
      const byId = eb('actor_id', '=', id);
      const byName = names.map((n) =>
        eb.and([eb('actor_type', '=', n.type), eb('actor_name', '=', n.name)]),
      );
      const either = eb.or([byId, ...byName]);
      return type === null ? either : eb.and([eb('actor_type', '=', type), either]);
    });
  if (filter.unitId !== undefined) query = query.where('unit_id', '=', filter.unitId);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.after !== undefined) query = query.where('at', '>=', filter.after);
  if (filter.before !== undefined) query = query.where('at', '<', filter.before);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map((r) => r.id);
}
