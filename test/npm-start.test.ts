// tegami-test: no-database
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, waitFor } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tegami-npm-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * What a supervisor or a test harness does with the README's `npm start`: it stops the process it
 * started, npm, with SIGTERM. npm passes the signal to the script's shell; when that shell ran the
 * server as its child, the shell died and the server ran on, an orphan holding the port.
 */
test('SIGTERM to `npm start` stops the server it started, and frees the port', async () => {
  const port = await freePort();
  const npm = spawn('npm', ['start'], {
    env: {
      ...process.env,
      TEGAMI_HTTP_PORT: String(port),
      TEGAMI_DATABASE_URL: `sqlite:${join(dir, 'tegami.db')}`,
      TEGAMI_BOOTSTRAP_API_KEY: 'npm-start-key',
      TEGAMI_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A group of its own, so that whatever npm started can be stopped whatever happens.
    detached: true,
  });
  const group = npm.pid as number;
  after(() => {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // the group is gone: everything in it has stopped
    }
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  npm.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // 'exit', not 'close': a server left behind would hold npm's pipes open.
  const npmExited = new Promise<number | null>((resolve) => npm.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    const answer = await fetch(`${url}/healthz`).catch(() => null);
    return answer?.ok ? true : null;
  }, `npm start to answer on ${url}`);

  npm.kill('SIGTERM');
  assert.equal(await npmExited, 0, output);
  await waitFor(
    async () => ((await fetch(`${url}/healthz`).catch(() => null)) === null ? true : null),
    'the server to stop with npm',
    10_000,
  );
});
