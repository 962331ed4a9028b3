import type pg from 'pg';

/**
 * Named (server-side prepared) statements for the writes a connection repeats, so PostgreSQL
 * parses and plans each of them once per connection instead of at every call. Measured on the
 * load bench (docs/benchmarks.md, "PostgreSQL: the writes prepared once per connection"), planning
 * alone was ~10 % of PostgreSQL's time per message: the claim's statement took ~0.3 ms to plan.
 *
 * Only writes are prepared (INSERT, UPDATE, DELETE, and WITH statements that write): their plans
 * look rows up by key, so the generic plan PostgreSQL may settle on after five calls is as good as
 * a fresh one. Reads (lists, searches, counts) keep a plan made for their values, where a
 * generic one could scan for a rare status as if it were common. Nor is a write over an array
 * parameter (`= any($1::text[])`): a generic plan cannot know how many ids it holds, and on a
 * table without statistics yet it scanned the table (the results written that way took 1.8× the
 * server's CPU per message in the load bench).
 *
 * A statement is prepared from its second call on the connection, and at most
 * MAX_PREPARED_PER_CONNECTION of them, so one-off statements and statements whose text varies
 * (an IN list of any length) do not pile up in the server's memory.
 */
const MAX_PREPARED_PER_CONNECTION = 100;
/** Texts seen once and remembered, to prepare them at their second call. */
const MAX_SEEN_PER_CONNECTION = 1_000;

/**
 * SQLSTATEs that mean a prepared statement cannot be used any more on this connection:
 * 26000 (a pooler in transaction mode lost it) and 0A000 (a migration changed the columns a
 * statement returns: "cached plan must not change result type"). The statement that met it fails
 * once; the connection then stops preparing and runs every statement unnamed.
 */
const PREPARED_STATEMENT_BROKEN = new Set(['26000', '0A000']);

/** Whether `text` writes: an INSERT, UPDATE or DELETE, or a WITH statement with one of them. */
export function isRepeatableWrite(text: string): boolean {
  const start = text.trimStart().slice(0, 7).toLowerCase();
  if (ARRAY_PARAMETER.test(text)) return false;
  if (start.startsWith('insert') || start.startsWith('update') || start.startsWith('delete'))
    return true;
  return start.startsWith('with') && WRITING_PART.test(text);
}

const ARRAY_PARAMETER = /\bany\s*\(\s*\$\d+/i;

const WRITING_PART = /\b(?:insert\s+into|update\s+"?\w+"?\s+set|delete\s+from)\s/i;

type Query = (...args: unknown[]) => unknown;

/** Makes `connection` run the writes it repeats as named statements (see above). */
export function prepareRepeatedWrites(connection: pg.PoolClient): void {
  const names = new Map<string, string>();
  const seen = new Set<string>();
  let broken = false;
  const target = connection as unknown as { query: Query };
  const unnamed = target.query.bind(connection) as Query;
  target.query = (...args: unknown[]) => {
    const [text, values] = args;
    if (broken || args.length !== 2 || typeof text !== 'string' || !Array.isArray(values))
      return unnamed(...args);
    let name = names.get(text);
    if (!name) {
      if (
        !seen.has(text) ||
        names.size >= MAX_PREPARED_PER_CONNECTION ||
        !isRepeatableWrite(text)
      ) {
        if (seen.size >= MAX_SEEN_PER_CONNECTION) seen.clear();
        seen.add(text);
        return unnamed(...args);
      }
      name = `tegami_${names.size}`;
      names.set(text, name);
    }
    const result = unnamed({ name, text, values }) as Promise<unknown>;
    return result.catch((error: { code?: string }) => {
      if (error?.code && PREPARED_STATEMENT_BROKEN.has(error.code)) broken = true;
      throw error;
    });
  };
}
