import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.ts';
import { SCHEMAS } from './postgres.ts';

/**
 * What a PostgreSQL user may do that the migrations need: create tables in the schema Tegami's
 * tables go in (and create that schema, when `?schema=` names one that does not exist yet), and
 * alter the tables there, which only their owner may. Read from the catalog: nothing is created.
 */
export interface TablePrivileges {
  user: string;
  database: string;
  search_path: string;
  /**
   * Where the tables go: the `?schema=`, else the first schema of the search_path that exists
   * and the user may use (PostgreSQL's current_schema()); null when there is none.
   */
  schema: string | null;
  /** Whether `schema` names the URL's `?schema=`. */
  configured: boolean;
  schemaExists: boolean;
  /** USAGE and CREATE on `schema` (false when it does not exist). */
  usage: boolean;
  create: boolean;
  /** CREATE on the database: what creating a missing `?schema=` needs. */
  createOnDatabase: boolean;
  /**
   * Tegami's tables there (none before the first migration), each with its owner and whether the
   * user owns it or is a member of the owning role.
   */
  tables: { table: string; owner: string; owned: boolean }[];
}

/**
 * Every table of schema.ts: a migration may alter any of them, so the user must own them all.
 * Typed so that a table added to schema.ts must be added here (test/store-schema.test.ts checks
 * schema.ts against what the migrations create).
 */
const SCHEMA_TABLES: Record<keyof Database, true> = {
  api_keys: true,
  messages: true,
  recipients: true,
  message_categories: true,
  message_metadata: true,
  attempts: true,
  idempotency_keys: true,
  sandbox_messages: true,
  provider_health: true,
  leader_leases: true,
  delivery_events: true,
  suppressions: true,
  webhook_endpoints: true,
  webhook_deliveries: true,
  units: true,
  recoveries: true,
  recovery_items: true,
  audit_events: true,
  provider_probe_requests: true,
  search_index_state: true,
  messages_subject_index: true,
  alerts: true,
  alert_notifications: true,
  unit_alert_settings: true,
  sendgrid_event_relays: true,
  sendgrid_relay_events: true,
  console_users: true,
  console_sessions: true,
  console_sign_in_failures: true,
  unit_rate_windows: true,
};

/** The tables whose owner the migrations must run as: Tegami's, and Kysely's record and lock. */
const OWNED_TABLES: readonly string[] = [
  'kysely_migration',
  'kysely_migration_lock',
  ...Object.keys(SCHEMA_TABLES),
];

export async function tablePrivileges(db: Kysely<Database>): Promise<TablePrivileges> {
  const configured = SCHEMAS.get(db) ?? null;
  const session = await sql<{
    user: string;
    database: string;
    search_path: string;
    current_schema: string | null;
    create_on_database: boolean;
  }>`select current_user::text as "user", current_database()::text as database,
      current_setting('search_path') as search_path, current_schema()::text as current_schema,
      has_database_privilege(current_database(), 'CREATE') as create_on_database`.execute(db);
  const facts = session.rows[0];
  if (!facts) throw new Error('PostgreSQL answered no row for the session');
  const schema = configured ?? facts.current_schema;
  const base = {
    user: facts.user,
    database: facts.database,
    search_path: facts.search_path,
    schema,
    configured: configured !== null,
    createOnDatabase: facts.create_on_database,
  };
  if (schema === null) {
    return { ...base, schemaExists: false, usage: false, create: false, tables: [] };
  }
  const found = await sql<{ usage: boolean; create: boolean }>`select
      has_schema_privilege(oid, 'USAGE') as usage, has_schema_privilege(oid, 'CREATE') as create
      from pg_catalog.pg_namespace where nspname = ${schema}`.execute(db);
  const rights = found.rows[0];
  if (!rights) return { ...base, schemaExists: false, usage: false, create: false, tables: [] };
  const tables = await sql<{ table: string; owner: string; owned: boolean }>`select
      c.relname::text as table, pg_get_userbyid(c.relowner)::text as owner,
      pg_has_role(c.relowner, 'USAGE') as owned
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relkind in ('r', 'p')
        and c.relname in (${sql.join(OWNED_TABLES)})
      order by c.relname`.execute(db);
  return { ...base, schemaExists: true, ...rights, tables: tables.rows };
}
