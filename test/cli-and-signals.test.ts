import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig, sqliteFsyncFor } from '../src/cli/config.ts';
import {
  message,
  queryDatabase,
  request,
  runTegami,
  spawnTegami,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';

describe('configuration', () => {
  const bad: [string, string, RegExp][] = [
    ['TEGAMI_HTTP_PORT', 'eighty', /not a whole number/],
    ['TEGAMI_HTTP_PORT', '70000', /out of range/],
    ['TEGAMI_PROVIDER', 'smtp', /not one of: sandbox, test/],
    ['TEGAMI_DATABASE_URL', 'mysql://db/tegami', /^TEGAMI_DATABASE_URL: "mysql:" is not supported/],
    [
      'TEGAMI_DATABASE_URL',
      'user:secret@db/tegami',
      /^TEGAMI_DATABASE_URL: "user:" is not supported/,
    ],
    ['TEGAMI_RETRY_MAX_ATTEMPTS', '0', /out of range/],
    ['TEGAMI_RETRY_BASE_DELAY_MS', '-5', /not a whole number/],
    ['TEGAMI_BOOTSTRAP_API_KEY', 'has space', /printable ASCII/],
    ['TEGAMI_LOG_LEVEL', 'loud', /not one of/],
    ['TEGAMI_PROVIDER_THREAD', 'yes', /not one of: auto, on, off/],
    ['TEGAMI_SHUTDOWN_DRAIN_S', '1.5', /not a whole number/],
    ['TEGAMI_SHUTDOWN_DRAIN_S', '601', /out of range \(0 to 600\)/],
  ];
  for (const [name, value, problem] of bad) {
    test(`${name}=${value} is refused, naming the variable`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (error: unknown) =>
          error instanceof ConfigError && error.variable === name && problem.test(error.message),
      );
    });
  }

  test('a refused secret URL is shown by its scheme and host only', () => {
    const secret = '0f1e2d3c-4b5a-6978-8a9b-abcdefSECRET';
    for (const name of [
      'TEGAMI_HEARTBEAT_URL',
      'TEGAMI_SLACK_WEBHOOK_URL',
      'TEGAMI_ALERT_WEBHOOK_URL',
    ]) {
      for (const value of [`https://hooks.example/${secret} x`, `not a url ${secret}`]) {
        assert.throws(
          () => loadConfig({ [name]: value }),
          (error: unknown) =>
            error instanceof ConfigError &&
            error.variable === name &&
            !error.message.includes('0f1e') &&
            !error.message.includes('SECRET'),
          `${name}=${value}`,
        );
      }
    }
  });

  test('defaults are sensible', () => {
    const config = loadConfig({});
    assert.equal(config.databaseUrl, 'sqlite:./data/tegami.db');
    assert.equal(config.http.port, 4025);
    assert.equal(config.http.host, '127.0.0.1');
    assert.equal(config.provider, 'sandbox');
    assert.equal(config.retry.maxAttempts, 30);
    assert.equal(config.providerThread, 'auto');
  });

  test('a worker holds 128 places on SQLite and 256 on PostgreSQL, unless told otherwise', () => {
    const postgres = 'postgres://tegami@db.example:5432/tegami';
    assert.equal(loadConfig({}).worker.concurrency, 128);
    assert.equal(loadConfig({ TEGAMI_DATABASE_URL: postgres }).worker.concurrency, 256);
    const told = { TEGAMI_DATABASE_URL: postgres, TEGAMI_WORKER_CONCURRENCY: '32' };
    assert.equal(loadConfig(told).worker.concurrency, 32);
  });

  test('delivery results commit without waiting for the disk on SQLite, with it on PostgreSQL', () => {
    const postgres = 'postgres://tegami@db.example:5432/tegami';
    assert.equal(loadConfig({}).worker.resultCommit, 'async');
    assert.equal(loadConfig({ TEGAMI_RESULT_COMMIT: 'sync' }).worker.resultCommit, 'sync');
    assert.equal(loadConfig({ TEGAMI_DATABASE_URL: postgres }).worker.resultCommit, 'sync');
    const told = { TEGAMI_DATABASE_URL: postgres, TEGAMI_RESULT_COMMIT: 'async' };
    assert.equal(loadConfig(told).worker.resultCommit, 'async');
    assert.throws(
      () => loadConfig({ TEGAMI_RESULT_COMMIT: 'later' }),
      /TEGAMI_RESULT_COMMIT: "later" is not one of: async, sync/,
    );
  });

  test("SQLite's fsyncs: on the thread that writes submissions and results unless told, else the pool", () => {
    assert.equal(loadConfig({}).sqliteFsync, 'auto');
    assert.equal(sqliteFsyncFor(loadConfig({}), true), 'inline');
    assert.equal(sqliteFsyncFor(loadConfig({}), false), 'thread');
    const thread = loadConfig({ TEGAMI_SQLITE_FSYNC: 'thread' });
    assert.equal(sqliteFsyncFor(thread, true), 'thread');
    const inline = loadConfig({ TEGAMI_SQLITE_FSYNC: 'inline' });
    assert.equal(sqliteFsyncFor(inline, false), 'inline');
    assert.throws(
      () => loadConfig({ TEGAMI_SQLITE_FSYNC: 'sometimes' }),
      /TEGAMI_SQLITE_FSYNC: "sometimes" is not one of: auto, inline, thread/,
    );
  });

  test('PostgreSQL prepares repeated writes unless told not to', () => {
    assert.equal(loadConfig({}).postgresPrepare, true);
    assert.equal(loadConfig({ TEGAMI_POSTGRES_PREPARE: 'off' }).postgresPrepare, false);
    assert.throws(
      () => loadConfig({ TEGAMI_POSTGRES_PREPARE: 'yes' }),
      /TEGAMI_POSTGRES_PREPARE: "yes" is not one of: on, off/,
    );
  });

  test('a bad value stops `tegami serve` with a message naming the variable', async () => {
    const { code, output } = await runTegami(['serve'], { TEGAMI_HTTP_PORT: 'eighty' });
    assert.notEqual(code, 0);
    assert.match(output, /TEGAMI_HTTP_PORT: "eighty" is not a whole number/);
  });

  test('a private key as TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY is refused, in every form; its public key is taken', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const privateForms = [
      ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString(),
      ec.privateKey
        .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pass' })
        .toString(),
      rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
      ec.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
      ec.privateKey.export({ format: 'der', type: 'sec1' }).toString('base64'),
    ];
    for (const key of privateForms) {
      assert.throws(
        () => loadConfig({ TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: key }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message ===
            'TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: this is a private key; give its public key instead (openssl pkey -in private.pem -pubout prints it), or the base64 key SendGrid shows for the Signed Event Webhook',
        key.slice(0, 40),
      );
    }
    for (const key of [
      ec.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      ec.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    ]) {
      assert.equal(
        loadConfig({ TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: key }).sendgridWebhook.publicKey,
        key,
      );
    }
  });

  test('a private key stops `tegami serve` without printing it', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const { code, output } = await runTegami(['serve'], {
      TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: pem,
    });
    assert.equal(code, 78, output);
    assert.match(
      output,
      /^Configuration error: TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: this is a private key; give its public key instead \(openssl pkey -in private\.pem -pubout prints it\)/m,
    );
    const body = pem.split('\n')[1] ?? '';
    assert.ok(body.length > 20 && !output.includes(body), 'the key is not printed');
  });

  test('a database path without sqlite: stops `tegami serve`, saying what to write, creating nothing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tegami-no-scheme-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'data', 'tegami.db');
    for (const given of [path, './data/tegami.db']) {
      const { code, output } = await runTegami(['serve'], { TEGAMI_DATABASE_URL: given });
      assert.equal(code, 78, output);
      assert.equal(
        output.trim(),
        `Configuration error: TEGAMI_DATABASE_URL: "${given}" has no scheme: for a SQLite file write sqlite:${given}; for PostgreSQL, postgres://user:password@host:5432/db`,
      );
    }
    assert.equal(existsSync(join(dir, 'data')), false, 'no folder was made');
  });
});

describe('tegami commands as real processes', () => {
  const db = tempDatabase();
  after(() => db.cleanup());
  const env = { TEGAMI_DATABASE_URL: db.url, TEGAMI_HTTP_PORT: '0' };

  test('first start without keys creates one and prints it once', async () => {
    const first = spawnTegami(['serve'], env);
    const url = await first.ready;
    const key = /(tgm_[A-Za-z0-9_-]{43})/.exec(first.output())?.[1];
    assert.ok(key, `a key was printed:\n${first.output()}`);
    const res = await request(url, 'POST', '/v1/messages', message(), {}, key);
    assert.equal(res.status, 202);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    const second = spawnTegami(['serve'], env);
    await second.ready;
    assert.doesNotMatch(second.output(), /tgm_/, 'not printed again');
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });

  test('keys create, list and revoke; a revoked key gets 401', async () => {
    const created = await runTegami(['keys', 'create', '--name', 'shop'], env);
    assert.equal(created.code, 0);
    const key = /(tgm_[A-Za-z0-9_-]{43})/.exec(created.output)?.[1] ?? '';
    const id = /(key_[0-9A-Z]{26})/.exec(created.output)?.[1] ?? '';
    const listed = await runTegami(['keys', 'list'], env);
    assert.match(listed.output, new RegExp(`${id}.*active.*shop`));
    assert.doesNotMatch(listed.output, new RegExp(key), 'the key itself is never listed');

    const server = spawnTegami(['api'], env);
    const url = await server.ready;
    try {
      assert.equal((await request(url, 'GET', '/v1/messages', undefined, {}, key)).status, 200);
      assert.equal((await runTegami(['keys', 'revoke', id], env)).code, 0);
      assert.equal((await request(url, 'GET', '/v1/messages', undefined, {}, key)).status, 401);
      assert.equal((await runTegami(['keys', 'revoke', 'key_nope'], env)).code, 1);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  test('keys, units and users refuse bad arguments, saying what is wrong, before they open the database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tegami-keys-'));
    const file = join(dir, 'never.db');
    try {
      const freshEnv = { TEGAMI_DATABASE_URL: `sqlite:${file}` };
      for (const [args, message] of [
        [['--name', 'a\u001b[31mred'], /--name must not contain control characters/],
        [['--name', 'two\nlines'], /--name must not contain control characters/],
        [['--name', ''], /--name must be 1 to 200 characters/],
        [['--priority', 'urgent'], /--priority must be high, normal or bulk, not "urgent"/],
      ] as const) {
        const refused = await runTegami(['keys', 'create', ...args], freshEnv);
        assert.equal(refused.code, 64, refused.output);
        assert.match(refused.output, message);
      }
      // 64, not 69 (no database): refused before the database is looked for.
      for (const [args, message] of [
        [['--limit', '0'], /--limit must be a whole number from 1 to 500/],
        [['--before', 'key_nope'], /--before must be a key's id/],
      ] as const) {
        const refused = await runTegami(['keys', 'list', ...args], freshEnv);
        assert.equal(refused.code, 64, refused.output);
        assert.match(refused.output, message);
      }
      for (const [args, message] of [
        [['units', 'bogus'], /tegami units: unknown action "bogus": create or list/],
        [['units', 'create'], /tegami units: create takes a name/],
        [['units', 'create', 'spa', 'spa'], /tegami units: a name is given twice/],
        [['users', 'create'], /tegami users: --email is missing/],
        [['users', 'create', '--email', 'a@b.jp', '--role', 'boss'], /--role must be admin/],
      ] as const) {
        const refused = await runTegami([...args], freshEnv);
        assert.equal(refused.code, 64, refused.output);
        assert.match(refused.output, message);
      }
      assert.equal(existsSync(file), false, 'no database was made');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('keys revoke on a key revoked already says so and records no second revocation', async () => {
    const created = await runTegami(['keys', 'create', '--name', 'twice'], env);
    assert.equal(created.code, 0, created.output);
    const id = /(key_[0-9A-Z]{26})/.exec(created.output)?.[1] ?? '';
    const revocations = async () => {
      const [row] = await queryDatabase<{ n: number }>(
        db.url,
        "select count(*) as n from audit_events where action = 'key.revoke' and target = ?",
        [id],
      );
      return Number(row?.n);
    };
    const first = await runTegami(['keys', 'revoke', id], env);
    assert.equal(first.code, 0, first.output);
    assert.equal(first.output, `Revoked ${id}.\n`);
    assert.equal(await revocations(), 1);
    const [{ revoked_at: revokedAt } = { revoked_at: 0 }] = await queryDatabase<{
      revoked_at: number;
    }>(db.url, 'select revoked_at from api_keys where id = ?', [id]);

    const again = await runTegami(['keys', 'revoke', id], env);
    assert.equal(again.code, 0, again.output);
    assert.equal(
      again.output,
      `${id} was already revoked at ${new Date(Number(revokedAt)).toISOString()}; nothing changed.\n`,
    );
    assert.equal(await revocations(), 1, 'no second key.revoke audit event');
    const [after] = await queryDatabase<{ revoked_at: number }>(
      db.url,
      'select revoked_at from api_keys where id = ?',
      [id],
    );
    assert.equal(Number(after?.revoked_at), Number(revokedAt), 'the revocation time is kept');
  });

  test('commands that read or act on existing data refuse a SQLite file that does not exist, creating nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tegami-missing-'));
    try {
      // A typo'd folder and file: neither may be made.
      const file = join(dir, 'typo', 'tegami.db');
      const missingEnv = { TEGAMI_DATABASE_URL: `sqlite:${file}` };
      const line = `Database error: no database exists at sqlite:${file}; check TEGAMI_DATABASE_URL, or start tegami once (or run tegami migrate) to create it\n`;
      for (const args of [
        ['unsent'],
        ['unsent', '--unit', 'hotel'],
        ['recover', '--status', 'failed', '--dry-run'],
        ['recover', '--status', 'failed', '--yes'],
        ['audit'],
        ['alerts'],
        ['alerts', 'test'],
        ['keys', 'list'],
        ['keys', 'revoke', 'key_01HZZZZZZZZZZZZZZZZZZZZZZZ'],
        ['units', 'list'],
        ['users', 'list'],
        ['users', 'unlock', 'ops@example.jp'],
        ['users', 'disable', 'ops@example.jp'],
      ]) {
        const refused = await runTegami(args, missingEnv);
        assert.equal(refused.code, 69, `${args.join(' ')}: ${refused.output}`);
        assert.equal(refused.output, line, args.join(' '));
        assert.equal(existsSync(join(dir, 'typo')), false, `${args.join(' ')} made nothing`);
      }

      // A user refused for its password makes no database either: none given on standard input
      // (empty here, or an empty first line), or one too short.
      for (const input of [undefined, '\n']) {
        const refusedUser = await runTegami(
          ['users', 'create', '--email', 'a@example.jp'],
          missingEnv,
          input === undefined ? {} : { input },
        );
        assert.equal(refusedUser.code, 2, refusedUser.output);
        assert.equal(
          refusedUser.output,
          `tegami users: no password was given on standard input; give it as the first line, e.g. printf '%s\\n' "$PASSWORD" | tegami users create --email a@example.jp (or run it on a terminal to type it)\n`,
        );
      }
      const shortPassword = await runTegami(
        ['users', 'create', '--email', 'a@example.jp'],
        missingEnv,
        { input: 'short\n' },
      );
      assert.equal(shortPassword.code, 2, shortPassword.output);
      assert.match(shortPassword.output, /password: must be 12 to 1024 characters/);
      assert.equal(existsSync(join(dir, 'typo')), false, 'users create made nothing');

      // A relative path is shown as given, and where it points.
      const relative = await runTegami(['audit'], { TEGAMI_DATABASE_URL: 'sqlite:./typo.db' });
      assert.equal(relative.code, 69, relative.output);
      assert.ok(
        relative.output.includes(
          `no database exists at sqlite:./typo.db (no file ${join(process.cwd(), 'typo.db')});`,
        ),
        relative.output,
      );
      assert.equal(existsSync('typo.db'), false);

      // An in-memory database has no file to miss: it opens as before.
      const memory = await runTegami(['audit'], { TEGAMI_DATABASE_URL: 'sqlite::memory:' });
      assert.equal(memory.code, 0, memory.output);

      // Commands that start a fresh install still make the database.
      for (const [args, name] of [
        [['units', 'create', 'hotel'], 'units.db'],
        [['keys', 'create', '--name', 'first'], 'keys.db'],
        [['migrate'], 'migrate.db'],
      ] as const) {
        const path = join(dir, 'fresh', name);
        const made = await runTegami([...args], { TEGAMI_DATABASE_URL: `sqlite:${path}` });
        assert.equal(made.code, 0, `${args.join(' ')}: ${made.output}`);
        assert.equal(existsSync(path), true, `${args.join(' ')} made ${path}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('migrate applies migrations and is idempotent', async () => {
    const fresh = tempDatabase();
    try {
      const first = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: fresh.url });
      assert.equal(first.code, 0);
      assert.match(first.output, /Applied: 001-initial/);
      const again = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: fresh.url });
      assert.match(again.output, /up to date/);
    } finally {
      await fresh.cleanup();
    }
  });

  test('SIGTERM stops claiming, finishes in-flight sends and exits cleanly', async () => {
    const fresh = tempDatabase();
    const server = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: fresh.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_PROVIDER: 'test',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_WORKER_CONCURRENCY: '2',
    });
    try {
      const url = await server.ready;
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await request(
          url,
          'POST',
          '/v1/messages',
          message({ to: [{ email: `slow-1500+${i}@example.com` }] }),
        );
        ids.push(res.body.id);
      }
      await waitFor(async () => {
        const r = await request(url, 'GET', '/v1/messages?status=sending');
        return r.body.data.length === 2;
      }, 'two sends in flight');
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      assert.match(server.output(), /stopping/);

      // Restart to read the results: the two in-flight ones were sent, the two others wait.
      const again = spawnTegami(['api'], {
        TEGAMI_DATABASE_URL: fresh.url,
        TEGAMI_HTTP_PORT: '0',
        TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      });
      const url2 = await again.ready;
      const statuses = await Promise.all(
        ids.map(async (id) => (await request(url2, 'GET', `/v1/messages/${id}`)).body.status),
      );
      again.child.kill('SIGTERM');
      await again.exited;
      assert.deepEqual([...statuses].sort(), ['queued', 'queued', 'sent', 'sent']);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await fresh.cleanup();
    }
  });
});
