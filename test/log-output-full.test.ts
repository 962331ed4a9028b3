import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  BIN,
  freePort,
  message,
  request,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * stdout redirected to a disk that is full: the log lines are lost, nothing else. pino's default
 * stream made the first failed write an uncaught exception, and its flush at exit retried the
 * write forever: `tegami serve` neither answered nor exited.
 */
describe(`log output on a full disk (${TEST_ENGINE})`, () => {
  test('tegami serve with stdout on /dev/full accepts and sends mail, counts the lost lines and stops on SIGTERM', {
    skip: existsSync('/dev/full') ? false : 'this system has no /dev/full',
  }, async () => {
    const db = tempDatabase();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    const full = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: {
        ...process.env,
        TEGAMI_DATABASE_URL: db.url,
        TEGAMI_HTTP_PORT: String(port),
        TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
        TEGAMI_LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', full, 'pipe'],
    });
    closeSync(full);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      await waitFor(
        async () =>
          (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null))
            ?.status === 200,
        `the service to answer (stderr: ${stderr})`,
        20_000,
      );
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const accepted = await request(url, 'POST', '/v1/messages', message());
        assert.equal(accepted.status, 202);
        ids.push(accepted.body.id);
      }
      for (const id of ids) {
        await waitFor(
          async () => (await request(url, 'GET', `/v1/messages/${id}`)).body.status === 'sent',
          `message ${id} to be sent`,
        );
      }
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const failed = /tegami_log_output_failures_total\{kind="failed_write"\} (\d+)/.exec(metrics);
      assert.ok(failed, 'the failed writes are counted on /metrics');
      assert.ok(Number(failed[1]) > 0, `some log writes failed: ${failed[0]}`);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([
      exited,
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref()),
    ]);
    if (code === 'hung') child.kill('SIGKILL');
    assert.equal(code, 0, `exits cleanly on SIGTERM (stderr: ${stderr})`);
  });

  test('a reader that stops reading stdout holds up no request (the logs wait for it)', async () => {
    const db = tempDatabase();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: {
        ...process.env,
        TEGAMI_DATABASE_URL: db.url,
        TEGAMI_HTTP_PORT: String(port),
        TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
        // Every request is logged: far more than a pipe holds (64 KiB) in the requests below.
        TEGAMI_LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let logged = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      logged += chunk.length;
    });
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      await waitFor(
        async () =>
          (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null))
            ?.status === 200,
        'the service to answer',
        20_000,
      );
      // The reader stops: the pipe fills and every later write of the logs waits.
      child.stdout?.pause();
      const before = logged;
      for (let i = 0; i < 400; i++) {
        const r = await fetch(`${url}/v1/messages?limit=1&subject=${'x'.repeat(200)}`, {
          headers: { authorization: `Bearer ${TEST_KEY}` },
          signal: AbortSignal.timeout(5_000),
        });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
      assert.ok(logged - before < 200 * 1024, 'the reader really stopped');
      // The reader goes on: what waited is written.
      child.stdout?.resume();
      await waitFor(async () => logged - before > 400 * 200, 'the waiting log lines');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    await db.cleanup();
  });
});
