import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import {
  message,
  queryDatabase,
  spawnTegami,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * TEGAMI_SHUTDOWN_DRAIN_S: after SIGTERM an API process first leaves its load balancer's
 * rotation (`/readyz` 503) while still serving, then stops. From a drill: stopping one of two API
 * processes under load reset 1 to 3 of 3,000 requests, sent on kept-alive connections as the port
 * closed.
 */
describe(`a stop drains first when TEGAMI_SHUTDOWN_DRAIN_S is set (${TEST_ENGINE})`, () => {
  /** One request; the answer's status, `Connection` header and body. */
  function send(url: string, method: string, path: string, body?: unknown) {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<{ status: number; connection: string; body: string }>((resolve, reject) => {
      const req = httpRequest(
        new URL(path, url),
        {
          method,
          headers: {
            authorization: `Bearer ${TEST_KEY}`,
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': payload.length }
              : {}),
          },
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
      req.end(payload);
    });
  }

  test('SIGTERM: /readyz says 503 while mail is still accepted and sent, then the process stops', async () => {
    const db = tempDatabase();
    const server = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_SHUTDOWN_DRAIN_S: '3',
    });
    try {
      const url = await server.ready;
      assert.equal((await send(url, 'GET', '/readyz')).status, 200);
      const signalledAt = Date.now();
      server.child.kill('SIGTERM');
      await waitFor(async () => server.output().includes('draining for 3 s'), 'the drain to begin');

      const ready = await send(url, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(JSON.parse(ready.body).error.code, 'not_ready');
      assert.match(JSON.parse(ready.body).error.message, /stopping/);
      // Alive, only out of rotation.
      assert.equal((await send(url, 'GET', '/healthz')).status, 200);
      // Still served; the answer closes its connection, so the client's next one is made anew.
      const accepted = await send(
        url,
        'POST',
        '/v1/messages',
        message({ subject: 'while draining' }),
      );
      assert.equal(accepted.status, 202, accepted.body);
      assert.equal(accepted.connection, 'close');
      const id = JSON.parse(accepted.body).id as string;

      assert.equal(await server.exited, 0);
      const stopMs = Date.now() - signalledAt;
      assert.ok(stopMs >= 2_500, `stopped after ${stopMs} ms, before the drain was over`);
      assert.ok(stopMs < 15_000, `the stop took ${stopMs} ms`);
      assert.match(server.output(), /SIGTERM: stopping; no new work is claimed/);
      // The mail accepted while draining was kept, and sent by the worker meanwhile.
      const rows = await queryDatabase<{ status: string }>(
        db.url,
        `SELECT status FROM messages WHERE id = '${id}'`,
      );
      assert.deepEqual(
        rows.map((r) => r.status),
        ['sent'],
      );
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await db.cleanup();
    }
  });

  test('a second signal cuts the drain short', async () => {
    const db = tempDatabase();
    const server = spawnTegami(['api'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_SHUTDOWN_DRAIN_S: '600',
    });
    try {
      await server.ready;
      server.child.kill('SIGTERM');
      await waitFor(async () => server.output().includes('draining for 600 s'), 'the drain');
      const secondAt = Date.now();
      server.child.kill('SIGINT');
      assert.equal(await server.exited, 0);
      const stopMs = Date.now() - secondAt;
      assert.ok(stopMs < 10_000, `the stop took ${stopMs} ms after the second signal`);
      assert.match(server.output(), /Stopped\./);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await db.cleanup();
    }
  });

  test('SIGTERM while serve starts its second thread: the start ends, and so does the drain, with exit 0', async () => {
    const db = tempDatabase();
    // The drain outlasts the 10 s a start may take to wind down after a signal.
    const server = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_SERVE_THREADS: '2',
      TEGAMI_SHUTDOWN_DRAIN_S: '11',
      TEGAMI_LOG_LEVEL: 'info',
    });
    try {
      // The port is open; the delivery thread, which looks at no signal, is still starting.
      await waitFor(
        async () => server.output().includes('Server listening at'),
        'the API to listen',
        60_000,
        10,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0, server.output());
      assert.doesNotMatch(server.output(), /did not wind down/);
      assert.match(server.output(), /Stopped\./);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await db.cleanup();
    }
  });

  test('a worker, which answers no HTTP, stops at once', async () => {
    const db = tempDatabase();
    // The worker needs a migrated database; `tegami api` makes one and is stopped at once.
    const api = spawnTegami(['api'], { TEGAMI_DATABASE_URL: db.url, TEGAMI_HTTP_PORT: '0' });
    await api.ready;
    api.child.kill('SIGTERM');
    assert.equal(await api.exited, 0);
    const worker = spawnTegami(['worker'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_SHUTDOWN_DRAIN_S: '600',
    });
    try {
      await worker.ready;
      const signalledAt = Date.now();
      worker.child.kill('SIGTERM');
      assert.equal(await worker.exited, 0);
      assert.ok(Date.now() - signalledAt < 10_000);
      assert.doesNotMatch(worker.output(), /draining/);
    } finally {
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
      await db.cleanup();
    }
  });
});
