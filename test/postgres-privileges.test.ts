import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { runTegami, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * A DBA gives Tegami a user of its own, not a superuser. Since PostgreSQL 15 such a user may not
 * create tables in `public` of a database it does not own, and on a shared database it may be
 * given one schema (`?schema=`) and no CREATE on the database. The first must say what to grant;
 * the second must work, at the first start and at every later one.
 */
describe('a PostgreSQL user that is not a superuser', {
  skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only',
}, () => {
  const role = `tegami_user_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const admin = new pg.Client({ connectionString: process.env.TEGAMI_TEST_POSTGRES_URL });
  admin.on('error', () => {});
  const granted = tempDatabase();
  const notGranted = tempDatabase();
  /** The schemas the user owns: removed before the user. */
  const owned: string[] = [];

  /** TEGAMI_DATABASE_URL of `db`, as the limited user. */
  const asUser = (url: string) => {
    const limited = new URL(url);
    limited.username = role;
    limited.password = password;
    return limited.toString();
  };
  const schemaOf = (url: string) => new URL(url).searchParams.get('schema') ?? '';

  before(async () => {
    await admin.connect();
    await admin.query(`create role "${role}" login password '${password}'`);
  });
  after(async () => {
    try {
      for (const schema of owned) await admin.query(`drop schema if exists "${schema}" cascade`);
      await admin.query(`drop role if exists "${role}"`);
    } finally {
      await admin.end();
      await granted.cleanup();
      await notGranted.cleanup();
    }
  });

  test('without CREATE: exit 69, and the line says what the user needs', async () => {
    const { code, output } = await runTegami(['migrate'], {
      TEGAMI_DATABASE_URL: asUser(notGranted.url),
    });
    assert.equal(code, 69, output);
    assert.match(output, /Database error: cannot use the database at postgres:\/\/[^\n]*\*\*\*/);
    assert.match(output, /permission denied for database/);
    assert.match(
      output,
      /the user in TEGAMI_DATABASE_URL must be allowed to create and alter tables there: make it the owner of the database \(createdb --owner\), or of the \?schema= \(CREATE SCHEMA … AUTHORIZATION …\), as docs\/deploy\.md shows\n/,
    );
    assert.doesNotMatch(output, new RegExp(password), 'the password is never printed');
  });

  test('owning a schema made for it, without CREATE on the database: migrates and starts', async () => {
    const schema = schemaOf(granted.url);
    await admin.query(`create schema "${schema}" authorization "${role}"`);
    owned.push(schema);
    const env = { TEGAMI_DATABASE_URL: asUser(granted.url) };
    const first = await runTegami(['migrate'], env);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /Applied: 001-initial/);
    // Every later start migrates too, so it passes the schema step again.
    const again = await runTegami(['migrate'], env);
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Database is up to date\./);
    const keys = await runTegami(['keys', 'create', '--name', 'limited'], env);
    assert.equal(keys.code, 0, keys.output);
    const { rows } = await admin.query<{ owner: string }>(
      'select tableowner as owner from pg_tables where schemaname = $1 and tablename = $2',
      [schema, 'messages'],
    );
    assert.equal(rows[0]?.owner, role, 'the tables are the limited user’s');
  });

  test('a password given as ?password= is never printed either', async () => {
    const schema = schemaOf(granted.url);
    const inQuery = new URL(granted.url);
    inQuery.username = role;
    inQuery.searchParams.set('password', password);
    const works = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: inQuery.toString() });
    assert.equal(works.code, 0, works.output);
    const check = await runTegami(['check'], { TEGAMI_DATABASE_URL: inQuery.toString() });
    assert.match(check.output, /password=\*\*\*/);

    // The test server trusts its local users, so a refusal comes from a role it does not know.
    inQuery.username = `${role}_unknown`;
    const refused = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: inQuery.toString() });
    assert.equal(refused.code, 69, refused.output);
    assert.match(refused.output, /password=\*\*\*/);
    for (const output of [works.output, check.output, refused.output]) {
      assert.doesNotMatch(output, new RegExp(password), 'the password is never printed');
    }
    assert.ok(schema, 'the test database has a schema of its own');
  });
});

/** A schema's name is kept as written, capitals and all, as PostgreSQL keeps a quoted name. */
describe('a ?schema= with capitals', {
  skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only',
}, () => {
  const db = tempDatabase();
  const schema = `Mixed_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.TEGAMI_TEST_POSTGRES_URL });
  admin.on('error', () => {});
  after(async () => {
    try {
      await admin.connect();
      await admin.query(`drop schema if exists "${schema}" cascade`);
    } finally {
      await admin.end();
      await db.cleanup();
    }
  });

  test('migrates into that schema and starts from it', async () => {
    const url = new URL(db.url);
    url.searchParams.set('schema', schema);
    const env = { TEGAMI_DATABASE_URL: url.toString() };
    const first = await runTegami(['migrate'], env);
    assert.equal(first.code, 0, first.output);
    const keys = await runTegami(['keys', 'create', '--name', 'capitals'], env);
    assert.equal(keys.code, 0, keys.output);
    const check = await runTegami(['check'], env);
    assert.match(check.output, /every migration is applied/, check.output);
  });
});
