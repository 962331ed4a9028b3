import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { queryDatabase, TEST_ENGINE, type TempDatabase, tempDatabase } from './helpers.ts';

/**
 * src/store/schema.ts tells Kysely which tables and columns exist; nothing checks that against the
 * migrations, which create them. A column added by a migration but not declared cannot be used
 * without a cast; one declared but never created fails only when a query reaches it. This test
 * migrates a fresh database and compares both ways: tables, columns, and whether each column may
 * be null.
 */

const SCHEMA_TS = new URL('../src/store/schema.ts', import.meta.url);

/** Tables the database has on purpose that schema.ts does not declare, and why. */
const NOT_DECLARED: Record<string, string> = {
  kysely_migration: "Kysely's record of applied migrations",
  kysely_migration_lock: "Kysely's migration lock",
};

/**
 * Declared tables that only one engine has, and why: PostgreSQL keeps subject words in a table of
 * tsvectors (migration 010); SQLite keeps them in an FTS5 virtual table, not declared.
 */
const ONLY_ON: Record<string, 'sqlite' | 'postgres'> = {
  messages_subject_index: 'postgres',
};

// --- A small reader for schema.ts -----------------------------------------------------------
//
// schema.ts is plain TypeScript declarations: `export interface Name { member: Type; ... }`, with
// comments. Rather than load the TypeScript compiler, this reads just that: it drops comments,
// finds each interface's body by counting braces, splits the body at `;` outside brackets, and
// reads `name: Type` (or `name?: Type`) from each member. A column may be null when `null` is one
// of the alternatives of its type as selected: for `ColumnType<Select, Insert, Update>` (and
// `Generated<T>`) that is the first type argument.

interface DeclaredColumn {
  name: string;
  nullable: boolean;
}

/** The source without `//` and `/* … *\/` comments (schema.ts has no string literals with them). */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

/** Splits `text` at `separator` where it is not inside (), [], {} or <>. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[' || c === '{' || c === '<') depth++;
    else if (c === ')' || c === ']' || c === '}' || (c === '>' && text[i - 1] !== '=')) depth--;
    else if (c === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** Every `interface Name { … }` of the source: its members as name → type text. */
function readInterfaces(source: string): Map<string, Map<string, string>> {
  const code = withoutComments(source);
  const interfaces = new Map<string, Map<string, string>>();
  for (const match of code.matchAll(/\binterface\s+(\w+)\s*\{/g)) {
    const open = (match.index ?? 0) + match[0].length;
    let depth = 1;
    let close = open;
    while (depth > 0 && close < code.length) {
      if (code[close] === '{') depth++;
      else if (code[close] === '}') depth--;
      close++;
    }
    const members = new Map<string, string>();
    for (const member of splitTopLevel(code.slice(open, close - 1), ';')) {
      const found = /^(?:readonly\s+)?(\w+)\??\s*:\s*([\s\S]+)$/.exec(member);
      assert.ok(found, `schema.ts: cannot read the member "${member}" of ${match[1]}`);
      members.set(found[1] as string, (found[2] as string).trim());
    }
    interfaces.set(match[1] as string, members);
  }
  return interfaces;
}

/** The type a column has when selected: `ColumnType<S, I, U>` and `Generated<S>` give S. */
function selectType(type: string): string {
  const wrapped = /^(?:ColumnType|Generated)\s*<([\s\S]*)>$/.exec(type);
  if (!wrapped) return type;
  return selectType(splitTopLevel(wrapped[1] as string, ',')[0] ?? '');
}

/** Table name → its columns, as schema.ts declares them in `interface Database`. */
function declaredTables(): Map<string, DeclaredColumn[]> {
  const interfaces = readInterfaces(readFileSync(SCHEMA_TS, 'utf8'));
  const database = interfaces.get('Database');
  assert.ok(database, 'schema.ts declares `interface Database`');
  const tables = new Map<string, DeclaredColumn[]>();
  for (const [table, typeName] of database) {
    const columns = interfaces.get(typeName);
    assert.ok(columns, `schema.ts: Database.${table} is ${typeName}, which is not declared there`);
    tables.set(
      table,
      [...columns].map(([name, type]) => ({
        name,
        nullable: splitTopLevel(selectType(type), '|').includes('null'),
      })),
    );
  }
  return tables;
}

// --- What the migrated database has --------------------------------------------------------

interface ActualColumn {
  table: string;
  name: string;
  nullable: boolean;
}

async function migratedColumns(url: string): Promise<ActualColumn[]> {
  if (TEST_ENGINE === 'sqlite') {
    // pragma_table_list tells ordinary tables from virtual ones (the FTS5 subject index of
    // src/store/search/index-subjects.ts) and their shadow tables, which SQLite manages itself.
    const rows = await queryDatabase<{ table: string; name: string; notnull: number; pk: number }>(
      url,
      `select t.name as "table", c.name as name, c."notnull" as "notnull", c.pk as pk
         from pragma_table_list as t join pragma_table_info(t.name) as c
        where t.schema = 'main' and t.type = 'table' and t.name not like 'sqlite_%'`,
    );
    // SQLite lets a PRIMARY KEY column that is not an INTEGER PRIMARY KEY hold NULL unless it
    // is declared NOT NULL (a quirk it keeps for old databases), so `notnull` is 0 for the text
    // keys the migrations declare; PostgreSQL makes every key column NOT NULL. Tegami never
    // writes a null key, so a key column counts as not null here, as it does on PostgreSQL.
    return rows.map((r) => ({ table: r.table, name: r.name, nullable: !r.notnull && !r.pk }));
  }
  const rows = await queryDatabase<{ table: string; name: string; is_nullable: string }>(
    url,
    `select c.table_name as "table", c.column_name as name, c.is_nullable as is_nullable
       from information_schema.columns c
       join information_schema.tables t
         on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'`,
  );
  return rows.map((r) => ({ table: r.table, name: r.name, nullable: r.is_nullable === 'YES' }));
}

describe(`src/store/schema.ts matches the migrated database (${TEST_ENGINE})`, () => {
  let db: TempDatabase;
  let actual: Map<string, Map<string, boolean>>;
  const declared = declaredTables();

  before(async () => {
    db = tempDatabase();
    const handle = openDatabase(db.url);
    try {
      await migrateToLatest(handle.db);
    } finally {
      await handle.close();
    }
    actual = new Map();
    for (const column of await migratedColumns(db.url)) {
      if (column.table in NOT_DECLARED) continue;
      let table = actual.get(column.table);
      if (!table) {
        table = new Map();
        actual.set(column.table, table);
      }
      table.set(column.name, column.nullable);
    }
  });
  after(() => db?.cleanup());

  test("PostgreSQL keeps 10% of recipients' pages free, for in-place (HOT) status changes", {
    skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only (migration 015)',
  }, async () => {
    const [row] = await queryDatabase<{ reloptions: string[] | null }>(
      db.url,
      "select reloptions from pg_class where relname = 'recipients' and relkind = 'r' and relnamespace = to_regnamespace(current_schema())",
    );
    assert.deepEqual(row?.reloptions, ['fillfactor=90']);
  });

  test('the reader finds the tables and columns of schema.ts', () => {
    // A reader that silently found nothing would make the comparisons below pass.
    assert.ok(declared.size >= 20, `${declared.size} tables read from schema.ts`);
    assert.deepEqual(
      declared.get('units')?.map((c) => c.name),
      ['id', 'name', 'created_at'],
    );
    const recipients = new Map(declared.get('recipients')?.map((c) => [c.name, c.nullable]));
    assert.equal(recipients.get('email'), false);
    assert.equal(recipients.get('name'), true, 'name: string | null');
    assert.equal(recipients.get('delivery_status'), true, 'ColumnType<string | null, …>');
  });

  test('every table the migrations create is declared, and every declared table exists', () => {
    const missing = [...actual.keys()].filter((t) => !declared.has(t)).sort();
    const extra = [...declared.keys()]
      .filter((t) => !actual.has(t) && (ONLY_ON[t] ?? TEST_ENGINE) === TEST_ENGINE)
      .sort();
    assert.deepEqual(
      { 'in the database, not in schema.ts': missing, 'in schema.ts, not in the database': extra },
      { 'in the database, not in schema.ts': [], 'in schema.ts, not in the database': [] },
    );
  });

  test('every table has the same columns, with the same nullability', () => {
    const problems: string[] = [];
    for (const [table, columns] of declared) {
      const real = actual.get(table);
      if (!real) continue; // reported by the test above
      for (const column of columns) {
        const nullable = real.get(column.name);
        if (nullable === undefined) {
          problems.push(`${table}.${column.name}: declared in schema.ts, not in the database`);
        } else if (nullable !== column.nullable) {
          problems.push(
            `${table}.${column.name}: ${column.nullable ? 'may be null' : 'never null'} in ` +
              `schema.ts, but ${nullable ? 'nullable' : 'NOT NULL'} in the database`,
          );
        }
      }
      const names = new Set(columns.map((c) => c.name));
      for (const name of real.keys()) {
        if (!names.has(name))
          problems.push(`${table}.${name}: in the database, not declared in schema.ts`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
