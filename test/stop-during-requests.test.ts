import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import {
  queryDatabase,
  spawnTegami,
  startTestService,
  TEST_ENGINE,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * A stop while a request is under way. From a drill: a `tegami serve` got SIGTERM while an Event
 * Webhook batch (10,000 events) was being answered. The batch was answered, but the process took
 * 72 s to exit: the client's keep-alive connection, busy when the close began, stayed open after
 * the answer until Fastify's keep-alive timeout (72 s) ended, and the close waited for it.
 * Meanwhile the maintenance and alerts loops went on, and took the leases of the predecessor
 * that had been killed once those expired.
 */
describe(`stopping while requests are under way (${TEST_ENGINE})`, () => {
  /**
   * A POST whose body is sent in two parts: it is under way (the server reads its body) from the
   * first part until `finish()` sends the rest. On a keep-alive connection, as SendGrid's and
   * most HTTP clients' are.
   */
  function postInTwoParts(url: string, path: string, body: string) {
    const agent = new Agent({ keepAlive: true });
    const bytes = Buffer.from(body);
    const half = Math.floor(bytes.length / 2);
    const target = new URL(path, url);
    let finish = () => {};
    const answer = new Promise<{ status: number; connection: string; body: string }>(
      (resolve, reject) => {
        const req = httpRequest(
          target,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': bytes.length },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                connection: String(res.headers.connection ?? ''),
                body: text,
              }),
            );
          },
        );
        req.on('error', reject);
        req.write(bytes.subarray(0, half));
        finish = () => req.end(bytes.subarray(half));
      },
    );
    return { answer, finish: () => finish(), close: () => agent.destroy() };
  }

  function events(n: number) {
    const now = Math.floor(Date.now() / 1000);
    return JSON.stringify(
      Array.from({ length: n }, (_, i) => ({
        email: `r${i}@example.com`,
        event: 'delivered',
        timestamp: now,
        sg_event_id: randomUUID(),
        sg_message_id: `unknown-${i}.filter`,
      })),
    );
  }

  test("SIGTERM during an Event Webhook batch: it is answered, and the client's keep-alive connection does not hold the stop", async () => {
    const db = tempDatabase();
    const server = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
      // Requests are logged as they come in (at debug only): the signal waits for this one's.
      TEGAMI_LOG_LEVEL: 'debug',
    });
    const batch = { close: () => {} };
    try {
      const url = await server.ready;
      const posting = postInTwoParts(url, '/webhooks/sendgrid', events(1_000));
      batch.close = posting.close;
      // The request is under way (its headers and half its body are in) when the signal comes.
      // A fixed pause does not make sure of it on a busy machine: a signal that comes before the
      // server has read the headers finds an idle connection, closes it, and the request fails.
      await waitFor(
        async () =>
          server
            .output()
            .split('\n')
            .some((l) => l.includes('"incoming request"') && l.includes('/webhooks/sendgrid')),
        'the server to take the request',
      );
      const signalledAt = Date.now();
      server.child.kill('SIGTERM');
      await waitFor(async () => server.output().includes('SIGTERM: stopping'), 'the stop to begin');
      posting.finish();
      const answer = await posting.answer;
      assert.equal(answer.status, 200, answer.body);
      assert.equal(JSON.parse(answer.body).stored, 1_000);
      // Said so the client does not send another request on a connection about to end.
      assert.equal(answer.connection, 'close');
      assert.equal(await server.exited, 0);
      const stopMs = Date.now() - signalledAt;
      // Fastify keeps an idle connection 72 s; the stop waited that long for it.
      assert.ok(stopMs < 10_000, `the stop took ${stopMs} ms`);
      assert.match(server.output(), /Stopped\./);
    } finally {
      batch.close();
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await db.cleanup();
    }
  });

  test('while a stop waits for a request, the alert rules take no lease (a dead predecessor’s, once it expires)', async () => {
    const tegami = await startTestService({
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
      TEGAMI_TEST_NO_WORKER: '1',
      // A round every 100 ms: a loop left running during the stop would take the lease at once.
      TEGAMI_ALERT_INTERVAL_MS: '100',
    });
    // The alert rules hold their lease (their first round takes it), so that the row below is
    // there to be made over. A fixed pause made sure of neither this nor the request on a busy
    // machine: the request is under way once its headers are in.
    await waitFor(
      async () =>
        (
          await queryDatabase(
            tegami.databaseUrl,
            "SELECT holder FROM leader_leases WHERE name = 'alerts'",
          )
        ).length === 1,
      'the alert rules to take their lease',
    );
    const headersIn = new Promise((resolve) => tegami.service.app?.server.once('request', resolve));
    const posting = postInTwoParts(tegami.url, '/webhooks/sendgrid', events(10));
    try {
      await headersIn;
      // The lease of a process that was killed (as if held by it for a while yet)...
      const lease = (expiresAt: number) =>
        tegami.service.database.db
          .updateTable('leader_leases')
          .set({ holder: 'gone/1/killed', expires_at: expiresAt })
          .where('name', '=', 'alerts')
          .execute();
      await lease(Date.now() + 60_000);
      const stopAt = Date.now();
      const stopped = tegami.stop();
      // ...runs out as the stop begins: a round begun before the stop cannot take it (its time is
      // not past the expiry), a round begun after it could.
      await lease(stopAt);
      // Before the fix, ten rounds or so came meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      posting.finish();
      assert.equal((await posting.answer).status, 200);
      await stopped;
      const rows = await queryDatabase<{ holder: string }>(
        tegami.databaseUrl,
        "SELECT holder FROM leader_leases WHERE name = 'alerts'",
      );
      // Taken during the stop, it would have been released at its end: no row.
      assert.deepEqual(
        rows.map((r) => r.holder),
        ['gone/1/killed'],
      );
    } finally {
      posting.close();
    }
  });
});
