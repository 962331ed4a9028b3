import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Completion } from '../src/domain/ports/delivery-store.ts';
import { writeCompletions } from '../src/store/delivery/complete.ts';
import type { DatabaseHandle } from '../src/store/index.ts';
import { migratedDatabase } from './helpers.ts';

/**
 * The attempts upsert on several rows at once, on each engine: a late result replaces the lease
 * sweep's `worker_lost` attempt of the same number, and only that.
 */
describe('the attempts upsert (several rows per statement)', () => {
  const database = migratedDatabase();
  let handle: DatabaseHandle;
  before(() => {
    handle = database.handle;
  });

  const row = (id: string, errorClass: string | null) => ({
    message_id: id,
    number: 1,
    provider: 'p',
    started_at: 1,
    duration_ms: 0,
    outcome: errorClass === 'worker_lost' ? 'unknown' : 'retryable',
    http_status: null,
    provider_message_id: null,
    error_class: errorClass,
    detail: 'old',
    response_excerpt: null,
    provider_fault: null,
    provider_errors: null,
    rate_limit: null,
    network_error: null,
  });
  const completion = (id: string): Completion => ({
    messageId: id,
    leaseOwner: 'nobody',
    now: 2,
    decision: { kind: 'sent' },
    attempt: {
      number: 1,
      provider: 'q',
      startedAt: 2,
      durationMs: 1,
      outcome: 'accepted',
      httpStatus: 202,
      providerMessageId: 'pm',
      errorClass: null,
      detail: 'new',
      responseExcerpt: null,
      providerFault: null,
      providerErrors: null,
      rateLimit: null,
      networkError: null,
    },
  });

  test('replaces only worker_lost rows, keeps others, inserts new ones', async () => {
    await handle.db
      .insertInto('attempts')
      .values([row('m1', 'worker_lost'), row('m2', 'http_503')])
      .execute();
    await handle.writeTransaction((trx) =>
      writeCompletions(trx, handle, [completion('m1'), completion('m2'), completion('m3')]),
    );
    const rows = await handle.db
      .selectFrom('attempts')
      .select(['message_id', 'detail', 'provider'])
      .where('message_id', 'in', ['m1', 'm2', 'm3'])
      .orderBy('message_id')
      .execute();
    assert.deepEqual(rows, [
      { message_id: 'm1', detail: 'new', provider: 'q' },
      { message_id: 'm2', detail: 'old', provider: 'p' },
      { message_id: 'm3', detail: 'new', provider: 'q' },
    ]);
  });
});
