/**
 * How a storage adapter's failure is told from a request's: the database (PostgreSQL or SQLite)
 * away or refusing everything, so the same request may succeed later. The adapters raise their
 * drivers' errors as they are; the HTTP API answers these with 503, the console with its outage
 * page, and group commit fails a whole group at once on them (store/write/commit-group.ts).
 */

/**
 * Failures of the database rather than of the request (PostgreSQL down, restarting, out of
 * connections or space, read-only after a failover, a lock or statement timeout; SQLite busy
 * past its timeout): the request may succeed later, so they are a 503, not a 500 ("a bug").
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '53000', // insufficient_resources
  '53100', // disk_full
  '53200', // out_of_memory
  '55P03', // lock_not_available: lock_timeout (a table locked by a migration or VACUUM FULL)
  '57014', // query_canceled: statement_timeout, or a canceled backend
  '25006', // read_only_sql_transaction: pointed at a standby, or read-only during a failover
  '28P01', // invalid_password: the password was rotated before the configuration
  '28000', // invalid_authorization_specification
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '26000', // a prepared statement went missing (a pooler): the connection stops preparing
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/** Errors of the disk under SQLite (better-sqlite3's codes, and Node's from the WAL's fsync). */
const DISK_CODES = new Set(['SQLITE_FULL', 'SQLITE_CANTOPEN', 'ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);
const SQLITE_DISK_PREFIXES = ['SQLITE_IOERR', 'SQLITE_READONLY'];

export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  // Another process held SQLite's lock for longer than a write waits (SQLITE_BUSY), or changed
  // the file under a transaction's snapshot (SQLITE_BUSY_SNAPSHOT): trying again later succeeds.
  if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true;
  // The disk under SQLite: full (SQLITE_FULL, ENOSPC), failing (SQLITE_IOERR_*, EIO), read-only
  // (SQLITE_READONLY_*, EROFS: a file system remounted read-only after an error), or the file
  // gone. A disk-full drill answered every write but a submission `500 internal_error` ("a bug").
  if (
    typeof code === 'string' &&
    (DISK_CODES.has(code) || SQLITE_DISK_PREFIXES.some((p) => code.startsWith(p)))
  )
    return true;
  return (
    typeof message === 'string' &&
    // The last: a migration changed what a prepared statement returns; it is not prepared again.
    /Connection terminated|timeout exceeded when trying to connect|is not queryable|cached plan must not change result type/i.test(
      message,
    )
  );
}

/**
 * Failures one transaction's own content can cause, or that end one transaction only (a
 * statement timeout a large item ran into, a deadlock, a serialization failure): the request may
 * succeed later, but another transaction now may well succeed.
 */
const ONE_TRANSACTION_CODES = new Set([
  '57014',
  '40P01',
  '40001',
  // A nearly full disk refuses a large transaction (a batch, a recovery's chunk) while small
  // ones still fit in the WAL's space: a group's items are still tried one by one.
  'SQLITE_FULL',
]);

/**
 * Whether every write would fail the same way now (the database away, out of connections or
 * space, read-only, a lock held past lock_timeout, SQLite locked elsewhere), so there is no
 * point in trying a group's items one by one (store/write/commit-group.ts).
 */
export function failsEveryWrite(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  return (
    isDatabaseUnavailable(error) && !(typeof code === 'string' && ONE_TRANSACTION_CODES.has(code))
  );
}
