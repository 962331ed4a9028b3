// tegami-test: no-database

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newId } from '../src/domain/ids.ts';
import type { MessageContent } from '../src/domain/types.ts';
import { openSqlite } from '../src/store/engine/sqlite.ts';
import {
  type DatabaseHandle,
  migrateToLatest,
  SharedWriteLock,
  SqlDeliveryStore,
  SqlMessageStore,
  startWriterThread,
} from '../src/store/index.ts';

const content = (subject: string): MessageContent => ({
  from: { email: 'bookings@hotel.example' },
  to: [{ email: 'guest@example.com', name: '予約 太郎' }],
  cc: [],
  bcc: [],
  subject,
  text: 'Your booking is confirmed.',
  headers: {},
  categories: ['booking'],
  metadata: { booking: 'B-1' },
  attachments: [],
});

/**
 * `tegami serve`'s writer thread on SQLite (TEGAMI_SERVE_THREADS=2): submissions, claims and
 * results are written by a thread that owns its own connection; what it writes, the main
 * thread's connection reads, and its errors come back with their codes.
 */
describe('the SQLite writer thread', () => {
  let dir: string;
  let url: string;
  let handle: DatabaseHandle;
  let writer: Awaited<ReturnType<typeof startWriterThread>>;
  const lost: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tegami-writer-thread-'));
    url = `sqlite:${join(dir, 'tegami.db')}`;
    const lock = new SharedWriteLock();
    handle = openSqlite(url, { writeLock: lock });
    await migrateToLatest(handle.db);
    writer = await startWriterThread(url, lock, (reason) => lost.push(reason));
  });
  after(async () => {
    await writer.stop();
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('writes submissions and claims on its thread; the main connection sees them', async () => {
    const messages = new SqlMessageStore(handle, writer.writes);
    const delivery = new SqlDeliveryStore(handle, writer.writes);
    const ids = [newId('msg'), newId('msg')];
    const outcomes = await Promise.all(
      ids.map((id, i) =>
        messages.submit({
          messages: [
            {
              id,
              apiKeyId: null,
              content: content(`Booking ${i} confirmed`),
              sendAt: null,
              createdAt: Date.now() - 1_000,
            },
          ],
        }),
      ),
    );
    assert.deepEqual(outcomes, [{ kind: 'stored' }, { kind: 'stored' }]);
    // Read on this thread's own connection.
    const stored = await messages.get(ids[0] as string);
    assert.equal(stored?.status, 'queued');

    const claimed = await delivery.claimDue({
      owner: 'host/1/writer-test',
      limit: 10,
      leaseMs: 60_000,
      now: Date.now(),
    });
    assert.deepEqual(claimed.map((m) => m.id).sort(), [...ids].sort());
    // The content crossed the thread boundary whole.
    const first = claimed.find((m) => m.id === ids[0]);
    assert.equal(first?.content.subject, 'Booking 0 confirmed');
    assert.deepEqual(first?.content.to, [{ email: 'guest@example.com', name: '予約 太郎' }]);
    assert.deepEqual(first?.content.metadata, { booking: 'B-1' });
    assert.equal((await messages.get(ids[0] as string))?.status, 'sending');
  });

  test('an error on the thread reaches the caller with its code, and nothing of it is stored', async () => {
    const messages = new SqlMessageStore(handle, writer.writes);
    const id = newId('msg');
    const submission = (subject: string) => ({
      messages: [
        { id, apiKeyId: null, content: content(subject), sendAt: null, createdAt: Date.now() },
      ],
    });
    await messages.submit(submission('first'));
    await assert.rejects(
      messages.submit(submission('second')),
      (error: Error & { code?: string }) => {
        assert.match(error.code ?? '', /^SQLITE_CONSTRAINT/);
        assert.match(error.message, /UNIQUE constraint failed/);
        return true;
      },
    );
    assert.equal((await messages.get(id))?.content.subject, 'first');
    assert.deepEqual(lost, [], 'the thread lives on after an error');
  });

  test('a thread that cannot open the database fails the start, with the reason', async () => {
    const noticed: string[] = [];
    await assert.rejects(
      startWriterThread('sqlite:/proc/tegami-no-such-dir/x.db', new SharedWriteLock(), (r) =>
        noticed.push(r),
      ),
      /proc/,
    );
    assert.deepEqual(noticed, [], 'a failed start is not a lost thread');
  });
});
