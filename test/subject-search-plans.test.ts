import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId } from '../src/domain/ids.ts';
import type { MessageFilter } from '../src/domain/ports/message-store.ts';
import type { SubjectPlan } from '../src/store/engine/handle.ts';
import {
  type DatabaseHandle,
  indexSubjects,
  migrateToLatest,
  openDatabase,
  SqlMessageStore,
} from '../src/store/index.ts';
import { conditionContext, messageConditions } from '../src/store/messages/conditions.ts';
import { listMessages } from '../src/store/messages/list.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * A subject condition reads the index's matching ids as a set when they are few, and checks each
 * message in the list's order when many messages have the words (store/messages/conditions.ts,
 * SubjectPlan). Which plan runs must never change the answer: every search here runs under
 * both, on messages the index has reached and on newer ones it has not.
 */
describe(`subject search: both plans find the same messages (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  let handle: DatabaseHandle;
  let store: SqlMessageStore;
  let unit: string;
  /** Message ids by name; each name once indexed (`name`) and once newer than the index (`name+`). */
  const ids = new Map<string, string>();

  const SUBJECTS: Record<string, string> = {
    ...Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`common${i}`, `Your reminder #${i} at spa`]),
    ),
    shouting: 'REMINDER: YOUR STAY',
    plural: 'Reminders for tomorrow',
    joined: 'remind-er and spa-reminder2',
    accented: 'Réservation confirmée — rappel n° 7341',
    // FTS5 indexes every word; a search is only its first 20 words, a subject all of them.
    long: `${Array.from({ length: 22 }, (_, i) => `w${i}`).join(' ')} reminder spa`,
    japanese: 'ご予約が確定しました reminder',
    unrelated: 'Your stay at the hotel',
  };

  const insert = async (suffix: string) => {
    const now = Date.now();
    const rows = Object.entries(SUBJECTS).map(([name, subject]) => {
      const id = newId('msg');
      ids.set(`${name}${suffix}`, id);
      return {
        id,
        api_key_id: null,
        unit_id: unit,
        status: 'sent' as const,
        from_email: 'shop@example.com',
        subject,
        content: '{}',
        send_at: null,
        created_at: now,
        updated_at: now,
        attempt_count: 1,
        attempts_before_retry: 0,
        next_attempt_at: null,
        lease_owner: null,
        lease_expires_at: null,
        sent_at: now,
        last_error: null,
        last_provider: 'test',
        last_error_class: null,
        last_outcome: 'accepted' as const,
        last_provider_fault: null,
        failed_at: null,
        confirmed_at: now,
        priority: 1,
      };
    });
    await handle.db.insertInto('messages').values(rows).execute();
  };

  before(async () => {
    handle = openDatabase(db.url);
    await migrateToLatest(handle.db);
    store = new SqlMessageStore(handle);
    unit = newId('unit');
    await handle.db
      .insertInto('units')
      .values({ id: unit, name: 'spa', created_at: Date.now() })
      .execute();
    await insert('');
    // Everything so far into the index (its lag is 10 s: "now" a minute ahead).
    while ((await indexSubjects(handle, Date.now() + 60_000)) > 0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await insert('+');
  });
  after(async () => {
    await handle.close();
    await db.cleanup();
  });

  /** The ids a filter finds with its subject conditions in the given plans. */
  const find = async (filter: Omit<MessageFilter, 'limit'>, plan: SubjectPlan) => {
    const context = await conditionContext(handle, filter, { subject: plan, notSubject: plan });
    const rows = await handle.db
      .selectFrom('messages')
      .select('id')
      .where((eb) => eb.and(messageConditions(eb, filter, context)))
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => r.id);
  };
  /**
   * A page as the API and the console read it: any word with more than `idsReadAsSet` messages
   * is checked per message over the newest `checkedPerMessage` others, the rest from its ids.
   */
  const page = async (filter: MessageFilter, idsReadAsSet: number, checkedPerMessage: number) =>
    (await listMessages(handle, filter, { idsReadAsSet, checkedPerMessage })).map((m) => m.id);
  /** Page limits: every plan, and a switch from one to the other within a page. */
  const LIMITS = [
    [1_000_000, 5_000],
    [0, 5_000],
    [0, 1],
    [0, 3],
    [0, 8],
  ] as const;
  const named = (names: string[]) =>
    names
      .flatMap((n) => [ids.get(n), ids.get(`${n}+`)])
      .filter((id): id is string => id !== undefined)
      .sort()
      .reverse();

  const commons = Array.from({ length: 12 }, (_, i) => `common${i}`);
  const SEARCHES: [string, string[]][] = [
    ['reminder', [...commons, 'shouting', 'long', 'japanese']],
    ['Reminder SPA', [...commons, 'long']],
    ['spa #7', ['common7']],
    ['reservation', ['accented']],
    ['CONFIRMÉE rappel 7341', ['accented']],
    ['ご予約が確定しました', ['japanese']],
    ['reminders', ['plural']],
    ['w21 spa', ['long']],
    ['xyzzy', []],
  ];

  test('a common and a rare word: the same, right messages as a set of ids and per message', async () => {
    for (const [subject, names] of SEARCHES) {
      const expected = named(names);
      for (const plan of ['matching-ids', 'per-message'] as const) {
        assert.deepEqual(
          await find({ subject, unitId: unit }, plan),
          expected,
          `subject:${subject} (${plan})`,
        );
      }
      for (const [idsReadAsSet, checked] of LIMITS) {
        for (const limit of [1, 5, 100]) {
          assert.deepEqual(
            await page({ subject, unitId: unit, limit }, idsReadAsSet, checked),
            expected.slice(0, limit),
            `subject:${subject}, a page of ${limit} (ids as a set up to ${idsReadAsSet}, ${checked} checked per message)`,
          );
        }
      }
      // With their own limits, and the count (always from the set of ids).
      const listed = await store.list({ subject, unitId: unit, limit: 100 });
      assert.deepEqual(
        listed.map((m) => m.id),
        expected,
        `subject:${subject} listed`,
      );
      assert.equal(await store.count({ subject, unitId: unit, limit: 0 }), expected.length);
    }
  });

  test('a page after a cursor, and with another condition few of the messages meet', async () => {
    const expected = named(SEARCHES[0]?.[1] ?? []);
    const cursor = expected[4] as string;
    for (const [idsReadAsSet, checked] of LIMITS) {
      assert.deepEqual(
        await page(
          { subject: 'reminder', unitId: unit, beforeId: cursor, limit: 3 },
          idsReadAsSet,
          checked,
        ),
        expected.slice(5, 8),
        `after a cursor (ids as a set up to ${idsReadAsSet}, ${checked} checked per message)`,
      );
      assert.deepEqual(
        await page(
          { subject: 'reminder', unitId: unit, recipient: 'nobody@example.com', limit: 3 },
          idsReadAsSet,
          checked,
        ),
        [],
      );
    }
  });

  test('an excluded subject, alone or with another, under both plans', async () => {
    const all = named(Object.keys(SUBJECTS));
    const withReminder = named(SEARCHES[0]?.[1] ?? []);
    for (const plan of ['matching-ids', 'per-message'] as const) {
      assert.deepEqual(
        await find({ unitId: unit, not: { subject: 'reminder' } }, plan),
        all.filter((id) => !withReminder.includes(id)),
        `-subject:reminder (${plan})`,
      );
      assert.deepEqual(
        await find({ unitId: unit, subject: 'spa', not: { subject: 'reminder' } }, plan),
        named(['joined']),
        `subject:spa -subject:reminder (${plan})`,
      );
    }
    for (const [idsReadAsSet, checked] of LIMITS) {
      assert.deepEqual(
        await page({ unitId: unit, not: { subject: 'your' }, limit: 100 }, idsReadAsSet, checked),
        named(['plural', 'joined', 'accented', 'long', 'japanese']),
        `-subject:your (ids as a set up to ${idsReadAsSet}, ${checked} checked per message)`,
      );
    }
  });
});
