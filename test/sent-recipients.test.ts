import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { newId } from '../src/domain/ids.ts';
import type { Completion } from '../src/domain/ports/delivery-store.ts';
import type { MessageContent } from '../src/domain/types.ts';
import { writeCompletions } from '../src/store/delivery/complete.ts';
import { type DatabaseHandle, SqlDeliveryStore, SqlMessageStore } from '../src/store/index.ts';
import type { Database } from '../src/store/schema.ts';
import { acceptedSend, message, migratedDatabase, TEST_ENGINE } from './helpers.ts';

/**
 * A group of sends the provider accepted makes its messages and all their recipients `sent`, and
 * only those whose attempt still decides them. On PostgreSQL the recipients are found through
 * their key even on a table never analyzed (a new database's first minute): as an `IN` list of
 * their own, a group of results read the whole `recipients` table.
 */
describe('a group of results marked sent', () => {
  const database = migratedDatabase();
  let handle: DatabaseHandle;
  before(() => {
    handle = database.handle;
  });

  const content = (recipients: number): MessageContent => ({
    ...message(),
    to: [{ email: 'guest@example.com', name: 'Guest' }],
    cc: recipients > 1 ? [{ email: 'front-desk@hotel.example' }] : [],
    bcc: recipients > 2 ? [{ email: 'archive@hotel.example' }] : [],
    headers: {},
    categories: [],
    metadata: {},
    attachments: [],
  });

  test('messages and every recipient, through the key, for the attempts that decide', async () => {
    const messages = new SqlMessageStore(handle);
    const delivery = new SqlDeliveryStore(handle);
    if (TEST_ENGINE === 'postgres') {
      // What this looks at is a table without statistics: autovacuum must not analyze it
      // meanwhile (it may, once a minute, after the first 50 rows).
      await sql`alter table recipients set (autovacuum_enabled = false)`.execute(handle.db);
    }
    const now = Date.now();
    // Due now: three messages with three recipients each and 57 with one; 2,940 more scheduled
    // for tomorrow (their recipients are in the table all the same).
    const one = (sendAt: number | null) => ({
      id: newId('msg'),
      apiKeyId: null,
      content: content(1),
      sendAt,
      createdAt: now - 10_000,
    });
    const threeEach = Array.from({ length: 3 }, () => ({ ...one(null), content: content(3) }));
    await messages.submit({
      messages: [...threeEach, ...Array.from({ length: 57 }, () => one(null))],
    });
    for (let batch = 0; batch < 6; batch++) {
      await messages.submit({
        messages: Array.from({ length: 490 }, () => one(now + 86_400_000)),
      });
    }

    const owner = 'host-a/1/a';
    const claimed = await delivery.claimDue({ owner, limit: 100, leaseMs: 60_000, now });
    assert.equal(claimed.length, 60);
    const stale = threeEach[1]?.id as string;
    assert.ok(claimed.some((m) => m.id === stale));
    const group: Completion[] = claimed.map((m) => ({
      messageId: m.id,
      leaseOwner: owner,
      now: now + 100,
      // One result is for an attempt the message is past (attempt 2 of a message on attempt 1):
      // it decides nothing.
      attempt: acceptedSend(m.id === stale ? m.attemptCount + 1 : m.attemptCount, now),
      decision: { kind: 'sent' },
    }));

    // The scans of recipients this connection has counted and not yet reported (PostgreSQL
    // reports them at most once a second, so earlier statements may still be among them): read
    // before and after the results, in their transaction.
    const recipientScans = async (trx: Kysely<Database>) => {
      const { rows } = await sql<{ reltuples: number; seq_scan: string; idx_scan: string }>`
        select c.reltuples, s.seq_scan::text, s.idx_scan::text
        from pg_stat_xact_user_tables s join pg_class c on c.oid = s.relid
        where s.relid = 'recipients'::regclass`.execute(trx);
      const row = rows[0];
      assert.ok(row, 'the statistics of this transaction');
      return {
        analyzed: Number(row.reltuples) >= 0,
        seq: Number(row.seq_scan),
        idx: Number(row.idx_scan),
      };
    };
    const scans = await handle.writeTransaction(async (trx) => {
      const before = TEST_ENGINE === 'postgres' ? await recipientScans(trx) : null;
      await writeCompletions(trx, handle, group);
      if (!before) return null;
      const after = await recipientScans(trx);
      return { analyzed: after.analyzed, seq: after.seq - before.seq, idx: after.idx - before.idx };
    });
    if (scans) {
      assert.equal(scans.analyzed, false, 'recipients has not been analyzed yet');
      assert.deepEqual(
        { sequentialScans: scans.seq, usedTheKey: scans.idx > 0 },
        { sequentialScans: 0, usedTheKey: true },
        'the recipients of 59 messages were read through their key, not by reading the table',
      );
    }

    const decided = claimed.filter((m) => m.id !== stale).map((m) => m.id);
    const { rows: messageRows } = await sql<{ id: string; status: string }>`
      select id, status from messages`.execute(handle.db);
    const statusOf = new Map(messageRows.map((r) => [r.id, r.status]));
    assert.deepEqual(
      [...new Set(decided.map((id) => statusOf.get(id)))],
      ['sent'],
      'every message whose attempt decides is sent',
    );
    assert.equal(statusOf.get(stale), 'sending', 'a result for a newer attempt decides nothing');
    assert.equal(
      messageRows.filter((r) => r.status === 'sent').length,
      59,
      'no other message changed',
    );

    const { rows: recipientRows } = await sql<{ message_id: string; status: string }>`
      select message_id, status from recipients`.execute(handle.db);
    const sentRecipients = recipientRows.filter((r) => r.status === 'sent');
    assert.equal(
      sentRecipients.length,
      57 + 2 * 3,
      "every recipient of the 59 messages, no other's",
    );
    assert.deepEqual(
      [...new Set(sentRecipients.map((r) => r.message_id))].sort(),
      [...decided].sort(),
    );
    assert.ok(
      recipientRows.filter((r) => r.message_id === stale).every((r) => r.status !== 'sent'),
      'the recipients of the message the result did not decide are left as they were',
    );
  });
});
