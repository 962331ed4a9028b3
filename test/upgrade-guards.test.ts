import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrateTo, openDatabase } from '../src/store/index.ts';
import { migrations } from '../src/store/migrations/index.ts';
import { runTegami, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * An upgrade is `tegami migrate`, after the earlier release's processes are stopped; nothing
 * else changes the schema of a database an earlier release made. An upgrade drill found
 * `tegami unsent` (and every other command that reads or acts on data) migrating such a
 * database on the spot, under the earlier release's running processes, and a database migrated
 * by a newer release refused with "corrupted migrations". Real `tegami` processes here.
 */
const names = Object.keys(migrations);
const LAST_OF_AN_EARLIER_RELEASE = '017-metadata-lookup';

async function appliedCount(url: string): Promise<number> {
  const handle = openDatabase(url);
  try {
    const { rows } = await sql<{
      n: number | string;
    }>`select count(*) as n from kysely_migration`.execute(handle.db);
    return Number(rows[0]?.n);
  } finally {
    await handle.close();
  }
}

describe(`upgrades happen in tegami migrate only (${TEST_ENGINE})`, () => {
  test('commands that read or act on data refuse an earlier release’s database, and change nothing', async () => {
    const db = tempDatabase();
    const earlier = openDatabase(db.url);
    await migrateTo(earlier.db, LAST_OF_AN_EARLIER_RELEASE);
    await earlier.close();
    const before = await appliedCount(db.url);
    assert.equal(before, names.indexOf(LAST_OF_AN_EARLIER_RELEASE) + 1);

    const env = { TEGAMI_DATABASE_URL: db.url };
    for (const args of [['unsent'], ['keys', 'list'], ['users', 'list'], ['audit']]) {
      const r = await runTegami(args, env);
      assert.equal(r.code, 69, `${args.join(' ')}: ${r.output}`);
      assert.match(r.output, /is an earlier release's: \d+ migrations? of this release/);
      assert.match(r.output, /run `tegami migrate` first/);
      assert.equal(await appliedCount(db.url), before, `${args.join(' ')} migrated nothing`);
    }

    const migrated = await runTegami(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.output);
    assert.match(migrated.output, /^Applied: 018-unit-suppressions, /);
    assert.match(migrated.output, /\(database: (sqlite|postgres)/);
    assert.equal(await appliedCount(db.url), names.length);
    const listed = await runTegami(['unsent'], env);
    assert.equal(listed.code, 0, listed.output);
  });

  test('a database a newer release migrated is named as such, by every command', async () => {
    const db = tempDatabase();
    const env = { TEGAMI_DATABASE_URL: db.url };
    assert.equal((await runTegami(['migrate'], env)).code, 0);
    const handle = openDatabase(db.url);
    await sql`insert into kysely_migration (name, timestamp) values ('999-from-a-newer-release', '2027-01-01T00:00:00.000Z')`.execute(
      handle.db,
    );
    await handle.close();
    const checked = await runTegami(['check'], env);
    assert.equal(checked.code, 1, checked.output);
    assert.match(
      checked.output,
      /was migrated by a newer Tegami release \(999-from-a-newer-release\)/,
    );
    for (const args of [['migrate'], ['unsent']]) {
      const r = await runTegami(args, env);
      assert.equal(r.code, 69, r.output);
      assert.match(
        r.output,
        /was migrated by a newer Tegami release \(999-from-a-newer-release\): run that release, or restore the backup/,
      );
    }
  });

  test('a new database is still made by any command that may start one', async () => {
    const db = tempDatabase();
    const r = await runTegami(['units', 'create', 'hotel'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(r.code, 0, r.output);
    assert.equal(await appliedCount(db.url), names.length);
  });
});
