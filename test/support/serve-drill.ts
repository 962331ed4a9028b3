import assert from 'node:assert/strict';
import { message, request, type Spawned, waitFor } from '../helpers.ts';

/** Pieces of the drills that run `tegami serve` as a real process. */

/**
 * `clients` clients submitting one message per request, each as soon as the last was answered,
 * until `stop()`; `acknowledged` holds the id of every message answered 202.
 */
export function submitWhileRunning(
  url: string,
  clients: number,
  body: (client: number, i: number) => unknown,
) {
  const acknowledged: string[] = [];
  let stopped = false;
  const client = async (n: number) => {
    for (let i = 0; !stopped; i++) {
      const res = await request(url, 'POST', '/v1/messages', body(n, i)).catch(() => null);
      if (res?.status === 202) acknowledged.push(res.body.id);
    }
  };
  const running = Array.from({ length: clients }, (_, n) => client(n));
  return {
    acknowledged,
    /** Stops the clients; resolves once each has its last answer (or error). */
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/** A started `tegami serve` sends one message, then stops cleanly on SIGTERM. */
export async function sendsOneThenStops(spawned: Spawned): Promise<void> {
  const url = await spawned.ready;
  const res = await request(url, 'POST', '/v1/messages', message());
  assert.equal(res.status, 202);
  await waitFor(async () => {
    const got = await request(url, 'GET', `/v1/messages/${res.body.id}`);
    return got.body.status === 'sent';
  }, 'the message sent');
  spawned.child.kill('SIGTERM');
  assert.equal(await spawned.exited, 0, spawned.output());
}
