// tegami-test: no-database
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { DeliveryWorker } from '../src/delivery/worker.ts';
import type { Provider } from '../src/domain/ports/provider.ts';
import { DEFAULT_RETRY_POLICY } from '../src/domain/retry-policy.ts';
import type { ClaimedMessage, SendResult } from '../src/domain/types.ts';
import { waitFor } from './helpers.ts';
import { claimedMessage, fakeDeliveryStore } from './support/fakes.ts';

const OUTAGE: SendResult = {
  outcome: 'retryable',
  providerFault: 'outage',
  errorClass: 'http_503',
  httpStatus: 503,
};

/**
 * When the provider is back, the mail its outage held back in this worker is due at once. A
 * provider failure that opened nothing, ended by a proper answer, leaves nothing to release
 * later: otherwise such failures would pile up over a process's life (10,000 remembered at
 * most) and the release would stop working.
 */
describe('mail held by the provider, released when it is back', () => {
  test('only the outage’s, not that of an earlier failure the next answer ended', async () => {
    const due: ClaimedMessage[] = [];
    const store = fakeDeliveryStore({
      async claimDue(request) {
        return due.splice(0, request.limit);
      },
    });
    const answers = new Map<string, SendResult>();
    const sent: string[] = [];
    const provider: Provider = {
      name: 'test',
      async send(m) {
        sent.push(m.id);
        return answers.get(m.id) ?? { outcome: 'accepted', httpStatus: 202 };
      },
    };
    const released: string[][] = [];
    const worker = new DeliveryWorker({
      store,
      provider,
      retry: DEFAULT_RETRY_POLICY,
      options: { concurrency: 8, batchSize: 8, leaseMs: 30_000, pollIntervalMs: 10 },
      circuit: {
        failureThreshold: 3,
        probeIntervalMs: 30,
        pauseCheckMs: 60_000,
        defaultThrottleMs: 1_000,
      },
      releaseWaiting: async (ids) => {
        released.push([...ids]);
        return ids.length;
      },
      logger: pino({ level: 'silent' }),
      outage: { failed() {}, succeeded() {} },
    });
    worker.start();
    try {
      // A 503 alone, then a 202: no outage.
      answers.set('lone', OUTAGE);
      due.push(claimedMessage('lone'));
      await waitFor(async () => sent.includes('lone'), 'the lone failure');
      due.push(claimedMessage('fine'));
      await waitFor(async () => sent.includes('fine'), 'the answer after it');
      // Three 503s in a row: the circuit opens; the probe is answered: it closes.
      for (const id of ['o1', 'o2', 'o3']) answers.set(id, OUTAGE);
      due.push(...['o1', 'o2', 'o3'].map((id) => claimedMessage(id)));
      await waitFor(async () => sent.includes('o3'), 'the outage');
      due.push(claimedMessage('probe'));
      await waitFor(async () => released.length > 0, 'the release on recovery');
      assert.deepEqual(released, [['o1', 'o2', 'o3']]);
    } finally {
      await worker.stop();
    }
  });
});
