import { queryDatabase, TEST_ENGINE } from '../helpers.ts';

/**
 * Tables whose rows background jobs add on their own schedule (the leader lease, each worker's
 * health report, the subject-search index and its position) and the migration bookkeeping: no
 * request writes them, so they are left out of "a refused request changes nothing".
 */
const BACKGROUND_TABLES = new Set([
  'leader_leases',
  'provider_health',
  'search_index_state',
  'messages_subject_index',
  'messages_fts',
  'messages_fts_config',
  'messages_fts_content',
  'messages_fts_data',
  'messages_fts_docsize',
  'messages_fts_idx',
  'kysely_migration',
  'kysely_migration_lock',
]);

/** Every table of the test database, read from the database itself so new tables count too. */
async function requestTables(url: string): Promise<string[]> {
  const rows =
    TEST_ENGINE === 'sqlite'
      ? await queryDatabase<{ name: string }>(
          url,
          "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'",
        )
      : await queryDatabase<{ name: string }>(
          url,
          "select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'",
        );
  return rows
    .map((r) => r.name)
    .filter((name) => !BACKGROUND_TABLES.has(name))
    .sort();
}

const tablesByUrl = new Map<string, Promise<string[]>>();

/** The number of rows in every table that requests write, as { table: count }. */
export async function rowCounts(url: string): Promise<Record<string, number>> {
  let tables = tablesByUrl.get(url);
  if (!tables) {
    tables = requestTables(url);
    tablesByUrl.set(url, tables);
  }
  const names = await tables;
  const [counts] = await queryDatabase<Record<string, number>>(
    url,
    `select ${names.map((t) => `(select count(*) from ${t}) as "${t}"`).join(', ')}`,
  );
  if (!counts) throw new Error('no row counts');
  return counts;
}
