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
 * `tegami serve` with its stdout on `stdout` (a file descriptor, or 'pipe'), every request
 * logged (TEGAMI_LOG_LEVEL=debug), once it answers.
 */
async function serveWithStdout(stdout: number | 'pipe') {
  const db = tempDatabase();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: String(port),
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', stdout, 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  /** SIGTERM; the exit code, or 'hung' (then killed) after 15 s. */
  const stop = async (): Promise<number | null | 'hung'> => {
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref()),
    ]);
    if (code === 'hung') child.kill('SIGKILL');
    await db.cleanup();
    return code;
  };
  try {
    await waitFor(
      async () =>
        (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null))
          ?.status === 200,
      `the service to answer (stderr: ${stderr})`,
      20_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, url, stop, stderr: () => stderr };
}

/**
 * Log output that cannot be written costs log lines, nothing else. On a full disk, pino's default
 * stream made the first failed write an uncaught exception, and its flush at exit retried the
 * write forever: `tegami serve` neither answered nor exited. Behind a reader that stops reading,
 * logs written synchronously stopped the event loop.
 */
describe(`log output that cannot be written (${TEST_ENGINE})`, () => {
  test('tegami serve with stdout on /dev/full accepts and sends mail, counts the lost lines and stops on SIGTERM', {
    skip: existsSync('/dev/full') ? false : 'this system has no /dev/full',
  }, async () => {
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    const full = openSync('/dev/full', 'w');
    const serve = await serveWithStdout(full).finally(() => closeSync(full));
    const { url } = serve;
    let code: number | null | 'hung';
    try {
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
      code = await serve.stop();
    }
    assert.equal(code, 0, `exits cleanly on SIGTERM (stderr: ${serve.stderr()})`);
  });

  test('a reader that stops reading stdout holds up no request (the logs wait for it)', async () => {
    const serve = await serveWithStdout('pipe');
    const { child, url } = serve;
    let logged = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      logged += chunk.length;
    });
    let code: number | null | 'hung';
    try {
      // The reader stops: the pipe fills (64 KiB) and every later write of the logs waits.
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
      code = await serve.stop();
    }
    assert.equal(code, 0);
  });
});
