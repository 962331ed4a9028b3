import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { redactUrl } from '../src/store/index.ts';
import { BIN, runTegami, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * `tegami check` says whether the database's user may do what the migrations do, before a start
 * or an upgrade fails on it: on SQLite, write to the database's folder (SQLite creates the -wal
 * and -shm files there); on PostgreSQL, create tables in Tegami's schema and alter the tables
 * there, and what a DBA grants when it may not. Its configuration line names the address the API
 * would listen on without claiming it does: the check opens no port.
 */

/** `tegami check` as another user: root may write anywhere, so a folder's mode means nothing to it. */
async function checkAs(uid: number, env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, 'check'], {
    env: { ...process.env, TEGAMI_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid,
    gid: uid,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

describe('tegami check: the folder of a SQLite database', {
  skip: TEST_ENGINE !== 'sqlite' && 'SQLite only',
}, () => {
  const db = tempDatabase();
  const env = { TEGAMI_DATABASE_URL: db.url };
  after(async () => {
    chmodSync(db.dir, 0o700);
    await db.cleanup();
  });

  test('a folder the user may write to: ok, one line more than before', async () => {
    assert.equal((await runTegami(['migrate'], env)).code, 0);
    const { code, output } = await runTegami(['check'], env);
    assert.equal(code, 0, output);
    assert.ok(
      output.includes(
        `\nok    database permissions: this user (uid ${process.getuid?.()}) may write to ${db.dir} (the database and its -wal and -shm files)\n`,
      ),
      output,
    );
  });

  test('a folder the user may not write to: FAIL, naming the folder and what to do', async () => {
    // The file writable by all, its folder by no one (but root): SQLite could write the file,
    // but not make its -wal file beside it.
    chmodSync(join(db.dir, 'tegami.db'), 0o666);
    chmodSync(db.dir, 0o555);
    const uid = process.getuid?.() ?? 0;
    // Root passes every permission check: run the check as nobody then.
    const { code, output } =
      uid === 0 ? await checkAs(65534, env) : await runTegami(['check'], env);
    assert.equal(code, 1, output);
    assert.match(
      output,
      new RegExp(
        `^FAIL {2}database permissions: this user \\(uid ${uid === 0 ? 65534 : uid}\\) may not write to the folder ${db.dir}, where SQLite creates the database's -wal and -shm files: give the folder and its files to the user Tegami runs as \\(chown -R\\), or run Tegami as their owner$`,
        'm',
      ),
    );
    chmodSync(db.dir, 0o700);
  });

  test('neither the folder nor the file writable: both named in one run', async () => {
    const file = join(db.dir, 'tegami.db');
    chmodSync(file, 0o444);
    chmodSync(db.dir, 0o555);
    const uid = process.getuid?.() ?? 0;
    const { code, output } =
      uid === 0 ? await checkAs(65534, env) : await runTegami(['check'], env);
    assert.equal(code, 1, output);
    const user = `this user \\(uid ${uid === 0 ? 65534 : uid}\\)`;
    assert.match(
      output,
      new RegExp(
        `^FAIL {2}database permissions: ${user} may not write to the folder ${db.dir}, where SQLite creates the database's -wal and -shm files; ${user} may not write to ${file}: give the folder and its files to the user Tegami runs as \\(chown -R\\), or run Tegami as their owner$`,
        'm',
      ),
    );
    chmodSync(db.dir, 0o700);
    chmodSync(file, 0o644);
  });

  // access(W_OK) tells root yes for /proc, where nothing can be made: only making something there
  // proves a folder can be written.
  const permissionsLine = (output: string) =>
    /^(ok {4}|FAIL {2})database permissions: .*$/m.exec(output)?.[0] ?? output;
  const procSkip = !existsSync('/proc/self') && 'needs /proc (Linux)';

  test('a folder to be made where nothing can be (/proc/…): FAIL, with the system’s answer', {
    skip: procSkip,
  }, async () => {
    const folder = `/proc/tegami-check-${randomBytes(4).toString('hex')}`;
    const { code, output } = await runTegami(['check'], {
      TEGAMI_DATABASE_URL: `sqlite:${folder}/tegami.db`,
    });
    assert.equal(code, 1, output);
    assert.match(
      permissionsLine(output),
      new RegExp(
        `^FAIL {2}database permissions: ${folder} does not exist, and this user \\(uid ${process.getuid?.()}\\) may not create it in /proc \\(making a folder there failed: E[A-Z]+: [^)]+\\): create the folder and give it to the user Tegami runs as \\(mkdir, chown\\), or name a database in another folder$`,
      ),
    );
  });

  test('a database in a folder where nothing can be made (/proc): FAIL, with the system’s answer', {
    skip: procSkip,
  }, async () => {
    const { code, output } = await runTegami(['check'], {
      TEGAMI_DATABASE_URL: `sqlite:/proc/tegami-check-${randomBytes(4).toString('hex')}.db`,
    });
    assert.equal(code, 1, output);
    const line = permissionsLine(output);
    assert.match(line, /^FAIL {2}database permissions: this user \(uid \d+\) may not write to /);
    // Root is refused by the file system, not by a mode: the answer is named, and no chown helps.
    if (process.getuid?.() === 0) {
      assert.match(
        line,
        /may not write to the folder \/proc \(making a folder there failed: E[A-Z]+: [^)]+\), where SQLite creates the database \(and its -wal and -shm files\): keep the database in a folder where this user can create files$/,
      );
    }
  });

  test('a folder to be made where one can be: ok, and nothing is left behind', async () => {
    const folder = join(db.dir, 'later', 'data');
    const { output } = await runTegami(['check'], {
      TEGAMI_DATABASE_URL: `sqlite:${folder}/tegami.db`,
    });
    assert.equal(
      permissionsLine(output),
      `ok    database permissions: ${folder} does not exist yet; the first start creates it in ${db.dir}, where this user (uid ${process.getuid?.()}) may create folders (one was made and removed)`,
    );
    assert.deepEqual(
      readdirSync(db.dir).filter((name) => !name.startsWith('tegami.db')),
      [],
      'neither the folder nor the proof of it is left',
    );
  });
});

describe('tegami check: what a PostgreSQL user may do', {
  skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only',
}, () => {
  const role = `tegami_check_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const admin = new pg.Client({ connectionString: process.env.TEGAMI_TEST_POSTGRES_URL });
  admin.on('error', () => {});
  const db = tempDatabase();
  const schema = new URL(db.url).searchParams.get('schema') ?? '';
  let database = '';

  /** A URL of the test server as the limited user; with `?schema=` when given one. */
  const asUser = (withSchema: string | null) => {
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    if (withSchema === null) url.searchParams.delete('schema');
    else url.searchParams.set('schema', withSchema);
    return url.toString();
  };
  const permissions = (output: string) =>
    /^(ok {4}|FAIL {2})database permissions: .*$/m.exec(output)?.[0];

  before(async () => {
    await admin.connect();
    database =
      (await admin.query<{ db: string }>('select current_database() as db')).rows[0]?.db ?? '';
    // Like a user a DBA made with createuser: no CREATE on the database, no superuser.
    await admin.query(`create role "${role}" login password '${password}'`);
  });
  after(async () => {
    try {
      await admin.query(`drop schema if exists "${schema}" cascade`);
      await admin.query(`drop owned by "${role}"`);
      await admin.query(`drop role if exists "${role}"`);
    } finally {
      await admin.end();
      await db.cleanup();
    }
  });

  test('public of a database it does not own: no CREATE, and what to grant', async () => {
    const { code, output } = await runTegami(['check'], { TEGAMI_DATABASE_URL: asUser(null) });
    assert.equal(code, 1, output);
    assert.equal(
      permissions(output),
      `FAIL  database permissions: user ${role} may not create tables in schema public of database ${database}, which the migrations do (it lacks CREATE on the schema); a DBA makes the user the database's owner (ALTER DATABASE ${database} OWNER TO ${role};), or grants it: GRANT CREATE ON SCHEMA public TO ${role}; (see docs/deploy.md)`,
    );
    assert.doesNotMatch(output, new RegExp(password), 'the password is never printed');
  });

  test('a ?schema= that does not exist, and no CREATE on the database to make it', async () => {
    const { code, output } = await runTegami(['check'], { TEGAMI_DATABASE_URL: asUser(schema) });
    assert.equal(code, 1, output);
    assert.equal(
      permissions(output),
      `FAIL  database permissions: schema ${schema} (?schema=) does not exist, and user ${role} may not create it (no CREATE on database ${database}); a DBA creates it for the user: CREATE SCHEMA ${schema} AUTHORIZATION ${role}; (see docs/deploy.md)`,
    );
  });

  test('a schema it may use but not create in, and tables another user owns: both at once', async () => {
    // The DBA's migration, as the DBA: the tables are the DBA's.
    assert.equal((await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url })).code, 0);
    await admin.query(`grant usage on schema "${schema}" to "${role}"`);
    const owner = (await admin.query<{ u: string }>('select current_user as u')).rows[0]?.u;
    // Every table of the schema is Tegami's or Kysely's: all of them are looked at.
    const tables = (
      await admin.query<{ t: string }>(
        'select tablename as t from pg_tables where schemaname = $1 order by tablename collate "C"',
        [schema],
      )
    ).rows.map((r) => r.t);
    assert.ok(tables.length > 20, tables.join(', '));
    const env = { TEGAMI_DATABASE_URL: asUser(schema) };
    const both = await runTegami(['check'], env);
    assert.equal(both.code, 1, both.output);
    assert.equal(
      permissions(both.output),
      `FAIL  database permissions: 2 problems: 1) user ${role} may not create tables in schema ${schema} of database ${database}, which the migrations do (it lacks CREATE on the schema); a DBA makes the user the schema's owner (ALTER SCHEMA ${schema} OWNER TO ${role};), or grants it: GRANT CREATE ON SCHEMA ${schema} TO ${role}; 2) user ${role} owns none of Tegami's ${tables.length} tables in schema ${schema} (${tables.slice(0, 3).join(', ')} and ${tables.length - 3} more belong to ${owner}), and only a table's owner may alter it, as the next upgrade's migrations do: run Tegami as ${owner}, or a DBA gives them to the user: ALTER TABLE ${schema}.${tables[0]} OWNER TO ${role}; and the same for each of the other ${tables.length - 1} (see docs/deploy.md)`,
    );

    // The grant, and every table but two given to the user: those two are named, with their fix.
    await admin.query(`grant create on schema "${schema}" to "${role}"`);
    const left = ['messages', 'unit_rate_windows'];
    for (const table of tables.filter((t) => !left.includes(t))) {
      await admin.query(`alter table "${schema}"."${table}" owner to "${role}"`);
    }
    const notOwner = await runTegami(['check'], env);
    assert.equal(notOwner.code, 1, notOwner.output);
    assert.equal(
      permissions(notOwner.output),
      `FAIL  database permissions: user ${role} does not own 2 of Tegami's ${tables.length} tables in schema ${schema} (messages and unit_rate_windows belong to ${owner}), and only a table's owner may alter it, as the next upgrade's migrations do: run Tegami as ${owner}, or a DBA gives them to the user: ALTER TABLE ${schema}.messages OWNER TO ${role}; ALTER TABLE ${schema}.unit_rate_windows OWNER TO ${role}; (see docs/deploy.md)`,
    );

    for (const table of left) {
      await admin.query(`alter table "${schema}"."${table}" owner to "${role}"`);
    }
    const ok = await runTegami(['check'], env);
    assert.equal(ok.code, 0, ok.output);
    assert.equal(
      permissions(ok.output),
      `ok    database permissions: user ${role} may create tables in schema ${schema} of database ${database}, and owns Tegami's tables there`,
    );
  });

  test('the owner of its schema: every check ok', async () => {
    const { code, output } = await runTegami(['check'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(code, 0, output);
    assert.match(
      output,
      new RegExp(
        `^ok {4}database permissions: user \\S+ may create tables in schema ${schema} of database ${database}, and owns Tegami's tables there$`,
        'm',
      ),
    );
  });
});

describe(`tegami check: the configuration line (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  const port = createServer();
  after(async () => {
    port.close();
    await db.cleanup();
  });

  test('names the address the API would listen on, and opens no port: one taken still passes', async () => {
    port.listen(0, '127.0.0.1');
    await once(port, 'listening');
    const taken = (port.address() as { port: number }).port;
    const env = { TEGAMI_DATABASE_URL: db.url, TEGAMI_HTTP_PORT: String(taken) };
    assert.equal((await runTegami(['migrate'], env)).code, 0);
    const { code, output } = await runTegami(['check'], env);
    assert.equal(code, 0, output);
    assert.equal(
      output.split('\n')[0],
      `ok    configuration: provider sandbox, database ${redactUrl(db.url)}, the API would listen on 127.0.0.1:${taken}`,
    );
  });
});
