import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDatabase, spawnTegami, tempDatabase, waitFor } from './helpers.ts';

/**
 * A start that fails must end the process: one clear line, what was opened released, a non-zero
 * exit code, so a supervisor restarts it. A signal while starting must stop it too.
 */

/** Far above a normal start on a loaded machine; a process still alive by then hangs. */
const HANG_DEADLINE_MS = 45_000;

/** Runs `tegami …`; kills it (and says so) if it is still running after the deadline. */
async function runToEnd(args: string[], env: Record<string, string>) {
  const spawned = spawnTegami(args, env);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    spawned.child.kill('SIGKILL');
  }, HANG_DEADLINE_MS);
  const code = await spawned.exited;
  clearTimeout(timer);
  return { code, output: spawned.output(), hung };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

describe('a start that fails exits', () => {
  const db = tempDatabase();
  const blocker = createServer();
  let busyPort = 0;
  before(async () => {
    busyPort = await listen(blocker);
  });
  after(async () => {
    blocker.close();
    await db.cleanup();
  });

  for (const role of ['serve', 'api']) {
    test(`tegami ${role} on a busy port: exit 69, one clear line, no API key created`, async () => {
      const { code, output, hung } = await runToEnd([role], {
        TEGAMI_DATABASE_URL: db.url,
        TEGAMI_HTTP_PORT: String(busyPort),
      });
      assert.equal(hung, false, `still running after ${HANG_DEADLINE_MS} ms:\n${output}`);
      assert.equal(code, 69, output);
      const lines = output.split('\n').filter((line) => /cannot listen/i.test(line));
      assert.deepEqual(lines, [
        `Cannot start: cannot listen on 127.0.0.1:${busyPort}: the address is already in use (is another Tegami running?) (EADDRINUSE); check TEGAMI_HTTP_HOST and TEGAMI_HTTP_PORT`,
      ]);
      assert.doesNotMatch(output, /tgm_|API key/, 'no key is created or printed');
      const [row] = await queryDatabase<{ n: number }>(
        db.url,
        'select count(*) as n from api_keys',
      );
      assert.equal(Number(row?.n), 0, 'no key was stored either');
    });
  }

  test('a SQLite path whose folder cannot be made: exit 69 with the reason', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tegami-bad-path-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a-file'), 'not a folder');
    // /proc refuses new folders with ENOENT, which made a recursive mkdir retry forever.
    const paths: [string, string][] = [
      [`${join(dir, 'a-file')}/x.db`, `${join(dir, 'a-file')} is not a folder`],
      ['/proc/tegami-nope/x.db', "ENOENT: no such file or directory, mkdir '/proc/tegami-nope'"],
    ];
    for (const [path, reason] of paths) {
      const { code, output, hung } = await runToEnd(['serve'], {
        TEGAMI_DATABASE_URL: `sqlite:${path}`,
        TEGAMI_HTTP_PORT: '0',
      });
      assert.equal(hung, false, `${path}: still running after ${HANG_DEADLINE_MS} ms`);
      assert.equal(code, 69, output);
      assert.ok(
        output.includes(`Database error: cannot use the database at sqlite:${path}: ${reason}\n`),
        output,
      );
      assert.doesNotMatch(output, /listening on/);
    }
  });

  test('missing folders of a SQLite path are still created', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tegami-nested-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { code, output } = await runToEnd(['migrate'], {
      TEGAMI_DATABASE_URL: `sqlite:${join(dir, 'a', 'b', 'tegami.db')}`,
    });
    assert.equal(code, 0, output);
    assert.match(output, /Applied: 001-initial/);
  });
});

describe('a signal while starting stops the process', () => {
  // Takes connections and never answers: a database that is slow to open, so the start hangs.
  const connections: Socket[] = [];
  const silent = createServer((socket) => {
    connections.push(socket);
    socket.on('error', () => {});
  });
  let port = 0;
  before(async () => {
    port = await listen(silent);
  });
  after(() => {
    for (const socket of connections) socket.destroy();
    silent.close();
  });

  for (const [role, signal] of [
    ['serve', 'SIGTERM'],
    ['worker', 'SIGINT'],
  ] as const) {
    test(`${signal} while tegami ${role} waits for its database: exit 0, promptly`, async () => {
      const seen = connections.length;
      const spawned = spawnTegami([role], {
        TEGAMI_DATABASE_URL: `postgres://tegami@127.0.0.1:${port}/tegami`,
        TEGAMI_HTTP_PORT: '0',
      });
      try {
        await waitFor(
          async () => connections.length > seen,
          'the start to reach the database',
          HANG_DEADLINE_MS,
        );
        const signalledAt = Date.now();
        spawned.child.kill(signal);
        const timer = setTimeout(() => spawned.child.kill('SIGKILL'), HANG_DEADLINE_MS);
        const code = await spawned.exited;
        clearTimeout(timer);
        const output = spawned.output();
        // The connect timeout is 10 s and the migration retries five times: ~50 s if ignored.
        assert.ok(Date.now() - signalledAt < 20_000, `took ${Date.now() - signalledAt} ms`);
        assert.equal(code, 0, output);
        assert.match(output, new RegExp(`${signal} while starting: stopping\\.`));
        assert.match(output, /Stopped\./);
      } finally {
        if (spawned.child.exitCode === null) spawned.child.kill('SIGKILL');
      }
    });
  }
});
