// tegami-test: no-database
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyError } from 'fastify';
import pino from 'pino';
import { recordAttempt } from '../src/delivery/deliver-message.ts';
import type { Completion, DeliveryStore } from '../src/domain/ports/delivery-store.ts';
import { toApiError } from '../src/http/map-errors.ts';

/** A store whose results cannot be written until `downUntil` (the database away). */
function storeDownUntil(downUntil: number) {
  const calls: number[] = [];
  const store = {
    async complete() {
      calls.push(Date.now());
      if (Date.now() < downUntil) throw new Error('connection refused');
    },
  } as unknown as DeliveryStore;
  return { store, calls };
}

const completion = { messageId: 'msg_1', leaseOwner: 'w' } as unknown as Completion;
const log = { message_id: 'msg_1' } as never;
const quiet = pino({ level: 'silent' });
const outage = { failed() {}, succeeded() {} };

/**
 * A result that cannot be written is tried again while the message's lease lasts: a database
 * away for 10 s (a restart, its connections taken) must not make the message go out twice.
 */
describe('recording an attempt while the database is away', () => {
  test('away 10 s, the lease has 20 s left: written once it is back', async () => {
    const start = Date.now();
    const { store, calls } = storeDownUntil(start + 10_000);
    await recordAttempt(store, completion, outage, quiet, log, () => start + 20_000 - Date.now());
    const last = calls.at(-1) ?? 0;
    assert.ok(last >= start + 10_000, 'the last try came after the database was back');
    assert.ok(calls.length >= 7, `tried ${calls.length} times`);
  });

  test('no lease left: given up after ~8 s, as before', async () => {
    const start = Date.now();
    const { store, calls } = storeDownUntil(start + 60_000);
    await recordAttempt(store, completion, outage, quiet, log, () => 0);
    assert.equal(calls.length, 6, 'the first try and five more');
    assert.ok(Date.now() - start < 9_000);
  });
});

describe('errors of a database that went away', () => {
  test("are the API's 503 database_unavailable, not a 500", () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'timeout exceeded when trying to connect',
      // pg, on a client whose connection broke while it sat in the pool.
      'Client has encountered a connection error and is not queryable',
    ]) {
      const error = toApiError(Object.assign(new Error(message), {}) as FastifyError);
      assert.equal(error.code, 'database_unavailable', message);
      assert.equal(error.status, 503, message);
    }
  });
});
