import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../src/domain/api-keys.ts';
import { newId } from '../src/domain/ids.ts';
import type { Priority } from '../src/domain/priority.ts';
import type { MessageContent } from '../src/domain/types.ts';
import {
  type DatabaseHandle,
  migrateToLatest,
  openDatabase,
  SqlApiKeyStore,
  SqlDeliveryStore,
  SqlMessageStore,
  SqlUnitStore,
} from '../src/store/index.ts';
import {
  message,
  queryDatabase,
  request,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';

const content = (subject: string): MessageContent => ({
  from: { email: 'bookings@hotel.example' },
  to: [{ email: 'guest@example.com' }],
  cc: [],
  bcc: [],
  subject,
  headers: {},
  categories: [],
  metadata: {},
  attachments: [],
});

describe(`claiming by priority (${TEST_ENGINE})`, () => {
  let db: ReturnType<typeof tempDatabase>;
  let handle: DatabaseHandle;
  let messages: SqlMessageStore;
  let delivery: SqlDeliveryStore;
  before(async () => {
    db = tempDatabase();
    handle = openDatabase(db.url);
    await migrateToLatest(handle.db);
    messages = new SqlMessageStore(handle);
    delivery = new SqlDeliveryStore(handle);
  });
  after(async () => {
    await handle.close();
    await db.cleanup();
  });

  /** Stores messages due at `dueAt` (their creation time), returns their ids in that order. */
  async function store(priority: Priority, count: number, dueAt: number): Promise<string[]> {
    const batch = Array.from({ length: count }, (_, i) => ({
      id: newId('msg'),
      apiKeyId: null,
      content: content(`${priority} ${i}`),
      sendAt: null,
      createdAt: dueAt + i,
      priority,
    }));
    await messages.submit({ messages: batch });
    return batch.map((m) => m.id);
  }

  const claim = (limit: number, bulkSlots: number, now: number) =>
    delivery.claimDue({ owner: 'host/1/test', limit, bulkSlots, leaseMs: 60_000, now });

  test('high before normal before bulk, the longest due first within each; bulk keeps its reserved slots', async () => {
    const t = Date.now() - 100_000;
    // Bulk has waited longest, high the least: priority still decides.
    const bulk = await store('bulk', 6, t);
    const normal = await store('normal', 4, t + 1_000);
    const high = await store('high', 3, t + 2_000);
    const notYetDue = await store('high', 2, Date.now() + 3_600_000); // never claimed

    // The claimed messages are sent at once, in any order: compare sets.
    const ids = (claimed: { id: string }[]) => new Set(claimed.map((m) => m.id));
    const first = await claim(4, 0, Date.now());
    assert.deepEqual(ids(first), new Set([...high, normal[0]]));
    assert.deepEqual(first.map((m) => m.priority).sort(), ['high', 'high', 'high', 'normal']);
    // One slot reserved for bulk: the oldest bulk message, then the rest by priority.
    const second = await claim(4, 1, Date.now());
    assert.deepEqual(ids(second), new Set([bulk[0], ...normal.slice(1)]));
    // Nothing more urgent is due: bulk fills every slot, reserved or not.
    const third = await claim(10, 1, Date.now());
    assert.deepEqual(ids(third), new Set(bulk.slice(1)));
    assert.deepEqual(await claim(10, 1, Date.now()), []);
    const notDue = await queryDatabase<{ status: string }>(
      db.url,
      `SELECT status FROM messages WHERE id IN (?, ?)`,
      notYetDue,
    );
    assert.deepEqual(
      notDue.map((r) => r.status),
      ['queued', 'queued'],
    );
  });

  test('reserved bulk slots go to urgent mail when no bulk mail is due', async () => {
    const t = Date.now() - 50_000;
    const normal = await store('normal', 3, t);
    const claimed = await claim(3, 2, Date.now());
    assert.deepEqual(new Set(claimed.map((m) => m.id)), new Set(normal));
  });
});

describe(`priority over the API (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let hotelKey = '';
  let bulkKey = '';
  let newsUnitId = '';
  let newsKey = '';

  before(async () => {
    tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    const units = new SqlUnitStore(tegami.service.database);
    const keys = new SqlApiKeyStore(tegami.service.database);
    for (const name of ['hotel', 'news']) {
      assert.equal((await tegami.request('POST', '/v1/units', { name })).status, 201);
    }
    const hotel = (await units.findByName('hotel'))?.id ?? '';
    newsUnitId = (await units.findByName('news'))?.id ?? '';
    hotelKey = (await createApiKey(keys, 'hotel app', Date.now(), { unitId: hotel })).key;
    bulkKey = (
      await createApiKey(keys, 'hotel newsletter', Date.now(), {
        unitId: hotel,
        defaultPriority: 'bulk',
      })
    ).key;
    newsKey = (await createApiKey(keys, 'news app', Date.now(), { unitId: newsUnitId })).key;
  });
  after(async () => {
    await tegami.stop();
  });

  const submit = (body: unknown, key: string) =>
    request(tegami.url, 'POST', '/v1/messages', body, {}, key);
  const priorityOf = async (id: string) => (await tegami.request('GET', `/v1/messages/${id}`)).body;

  test("a message's own priority, else its key's default, else normal", async () => {
    const own = await submit(message({ priority: 'high' }), hotelKey);
    assert.equal(own.status, 202);
    assert.equal((await priorityOf(own.body.id)).priority, 'high');
    const plain = await submit(message(), hotelKey);
    assert.equal((await priorityOf(plain.body.id)).priority, 'normal');
    const byKey = await submit(message(), bulkKey);
    assert.equal((await priorityOf(byKey.body.id)).priority, 'bulk');
    const overridden = await submit(message({ priority: 'high' }), bulkKey);
    assert.equal((await priorityOf(overridden.body.id)).priority, 'high');
  });

  test("a unit's default applies to its keys without one; a key's own default wins", async () => {
    const set = await tegami.request('PUT', `/v1/units/${newsUnitId}`, {
      default_priority: 'bulk',
    });
    assert.equal(set.status, 200);
    assert.equal(set.body.default_priority, 'bulk');
    const sent = await submit(message(), newsKey);
    assert.equal((await priorityOf(sent.body.id)).priority, 'bulk');
    // The batch endpoint too, message by message.
    const batch = await request(
      tegami.url,
      'POST',
      '/v1/messages/batch',
      { messages: [message(), message({ priority: 'normal' })] },
      {},
      newsKey,
    );
    assert.equal(batch.status, 202);
    const ids = batch.body.results.map((r: { id: string }) => r.id);
    assert.equal((await priorityOf(ids[0])).priority, 'bulk');
    assert.equal((await priorityOf(ids[1])).priority, 'normal');
    // Cleared: back to normal (the change holds at once in the process that made it).
    const cleared = await tegami.request('PUT', `/v1/units/${newsUnitId}`, {
      default_priority: null,
    });
    assert.equal(cleared.body.default_priority, null);
    assert.equal((await priorityOf((await submit(message(), newsKey)).body.id)).priority, 'normal');
    const audit = await tegami.request('GET', '/v1/audit-events?action=unit.update');
    assert.ok(
      audit.body.data.some(
        (e: { filter: Record<string, unknown> | null }) => e.filter?.default_priority === 'bulk',
      ),
      'the change is audited',
    );
  });

  test("/v3/mail/send, which has no priority field, takes the key's default", async () => {
    const r = await fetch(`${tegami.url}/v3/mail/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bulkKey}` },
      body: JSON.stringify({
        personalizations: [{ to: [{ email: 'guest@example.com' }] }],
        from: { email: 'news@hotel.example' },
        subject: 'Autumn offers through v3',
        content: [{ type: 'text/plain', value: 'Come again.' }],
      }),
    });
    assert.equal(r.status, 202, await r.text());
    const rows = await queryDatabase<{ priority: number | string }>(
      tegami.databaseUrl,
      "SELECT priority FROM messages WHERE subject = 'Autumn offers through v3'",
    );
    assert.deepEqual(
      rows.map((row) => Number(row.priority)),
      [2],
    );
  });

  test('tegami keys create --priority gives the key a default; an unknown one is a usage error', async () => {
    const env = { TEGAMI_DATABASE_URL: tegami.databaseUrl };
    const created = await runTegami(
      ['keys', 'create', '--unit', 'hotel', '--priority', 'high'],
      env,
    );
    assert.equal(created.code, 0, created.output);
    assert.match(created.output, /priority high/);
    const key = created.output.trim().split('\n').pop() ?? '';
    const sent = await submit(message(), key);
    assert.equal((await priorityOf(sent.body.id)).priority, 'high');
    const refused = await runTegami(['keys', 'create', '--priority', 'urgent'], env);
    assert.equal(refused.code, 64, refused.output);
    assert.match(refused.output, /--priority must be high, normal or bulk/);
  });

  test('an unknown priority is a 400 naming the field, and nothing is stored', async () => {
    const count = async () =>
      Number(
        (
          await queryDatabase<{ n: number | string }>(
            tegami.databaseUrl,
            'SELECT COUNT(*) AS n FROM messages',
          )
        )[0]?.n,
      );
    const before = await count();
    for (const priority of ['urgent', 'HIGH', '', 1, null, ['high']]) {
      const r = await submit(message({ priority }), hotelKey);
      assert.equal(r.status, 400, JSON.stringify(priority));
      assert.deepEqual(r.body.error.details, [
        { field: 'priority', message: 'must be one of "high", "normal", "bulk"' },
      ]);
    }
    const unit = await tegami.request('PUT', `/v1/units/${newsUnitId}`, {
      default_priority: 'soon',
    });
    assert.equal(unit.status, 400);
    assert.deepEqual(unit.body.error.details, [
      { field: 'default_priority', message: 'must be one of "high", "normal", "bulk" or null' },
    ]);
    assert.equal(await count(), before);
  });
});

describe(`a confirmation does not wait behind bulk mail (${TEST_ENGINE})`, () => {
  let api: TestService;
  let worker: TestService | undefined;
  before(async () => {
    api = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(async () => {
    await worker?.stop();
    await api.stop();
  });

  test('with 3,000 bulk messages queued first, the high one is in the first claim and normal mail goes before the bulk backlog; bulk still gets its share', async () => {
    for (let b = 0; b < 3; b++) {
      const batch = await api.request('POST', '/v1/messages/batch', {
        messages: Array.from({ length: 1000 }, (_, i) =>
          message({ priority: 'bulk', subject: `News ${b * 1000 + i}` }),
        ),
      });
      assert.equal(batch.status, 202);
    }
    const normal = await api.request('POST', '/v1/messages/batch', {
      messages: Array.from({ length: 100 }, (_, i) => message({ subject: `Receipt ${i}` })),
    });
    assert.equal(normal.status, 202);
    const high = await api.request('POST', '/v1/messages', message({ priority: 'high' }));
    assert.equal(high.status, 202);

    // A worker starts on the backlog, claiming 64 at a time.
    worker = await startTestService({
      TEGAMI_DATABASE_URL: api.databaseUrl,
      TEGAMI_TEST_NO_API: '1',
      TEGAMI_WORKER_CONCURRENCY: '64',
    });
    await waitFor(
      async () =>
        Number(
          (
            await queryDatabase<{ n: number | string }>(
              api.databaseUrl,
              "SELECT COUNT(*) AS n FROM messages WHERE status <> 'sent'",
            )
          )[0]?.n,
        ) === 0,
      'every message sent',
      120_000,
      200,
    );
    // When the worker sent each message (its one attempt), oldest first.
    const sends = (
      await queryDatabase<{
        message_id: string;
        priority: number | string;
        started_at: number | string;
      }>(
        api.databaseUrl,
        `SELECT a.message_id, m.priority, a.started_at FROM attempts a
          JOIN messages m ON m.id = a.message_id ORDER BY a.started_at`,
      )
    ).map((r) => ({ id: r.message_id, priority: Number(r.priority), at: Number(r.started_at) }));
    assert.equal(sends.length, 3101);
    // Messages sent strictly before the given time (one claim's messages share a millisecond).
    const sentBefore = (at: number) => sends.filter((s) => s.at < at).length;
    const highAt = sends.find((s) => s.id === high.body.id)?.at ?? Number.NaN;
    assert.ok(sentBefore(highAt) < 64, `${sentBefore(highAt)} messages went before the high one`);
    const lastNormalAt = Math.max(...sends.filter((s) => s.priority === 1).map((s) => s.at));
    assert.ok(
      sentBefore(lastNormalAt) < 400,
      `${sentBefore(lastNormalAt)} messages went before the last normal one`,
    );
    const bulkBeforeLastNormal = sends.filter((s) => s.priority === 2 && s.at < lastNormalAt);
    assert.ok(bulkBeforeLastNormal.length > 0, 'bulk mail is not starved while other mail waits');
  });
});
