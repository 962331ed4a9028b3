// tegami-test: no-database
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyError } from 'fastify';
import {
  failsEveryWrite,
  isDatabaseUnavailable,
} from '../src/domain/ports/database-unavailable.ts';
import { toApiError } from '../src/http/map-errors.ts';
import { toSendGridRefusal } from '../src/http/sendgrid/answers.ts';

/**
 * What PostgreSQL says when the database, not the request, is the trouble: each is a 503 the
 * client may retry, never a 500 ("a bug") with a stack trace per request. A PostgreSQL failure
 * drill found these answered 500: a lock or statement timeout while a migration or VACUUM FULL
 * held a table, a standby (read-only) after a failover, a rotated password, and on `/v3` even a
 * plain outage once the API-key cache was cold (ECONNREFUSED from the key's look-up).
 */
const DATABASE_FAILURES: [string, string][] = [
  ['55P03', 'canceling statement due to lock timeout'],
  ['57014', 'canceling statement due to statement timeout'],
  ['25006', 'cannot execute INSERT in a read-only transaction'],
  ['28P01', 'password authentication failed for user "tegami"'],
  ['40001', 'could not serialize access due to concurrent update'],
  ['40P01', 'deadlock detected'],
  ['53100', 'could not extend file: No space left on device'],
  ['57P01', 'terminating connection due to administrator command'],
  ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
];

/** An error as `pg` raises it: an Error with PostgreSQL's SQLSTATE in `code`. */
function pgError(code: string, message: string): FastifyError {
  return Object.assign(new Error(message), { code }) as FastifyError;
}

describe('database failures are answered 503', () => {
  for (const [code, message] of DATABASE_FAILURES) {
    test(`${code}: ${message}`, () => {
      const error = pgError(code, message);
      assert.equal(isDatabaseUnavailable(error), true);
      const api = toApiError(error);
      assert.equal(api.status, 503);
      assert.equal(api.code, 'database_unavailable');
      const v3 = toSendGridRefusal(error);
      assert.equal(v3.status, 503, '/v3 answers as SendGrid does when it is unavailable');
    });
  }

  /**
   * The disk under SQLite (a resource-exhaustion drill): a full disk answered every write but a
   * submission `500 internal_error` (POST /v1/suppressions, retries, keys), "a bug".
   */
  const SQLITE_DISK_FAILURES: [string, string][] = [
    ['SQLITE_FULL', 'database or disk is full'],
    ['SQLITE_IOERR', 'disk I/O error'],
    ['SQLITE_IOERR_WRITE', 'disk I/O error'],
    ['SQLITE_READONLY', 'attempt to write a readonly database'],
    ['SQLITE_READONLY_DBMOVED', 'attempt to write a readonly database'],
    ['EROFS', 'EROFS: read-only file system, fdatasync'],
    ['EIO', 'EIO: i/o error, fdatasync'],
    ['ENOSPC', 'ENOSPC: no space left on device, fdatasync'],
  ];
  for (const [code, text] of SQLITE_DISK_FAILURES) {
    test(`SQLite's disk: ${code}: ${text}`, () => {
      const error = pgError(code, text);
      assert.equal(isDatabaseUnavailable(error), true);
      const api = toApiError(error);
      assert.equal(api.status, 503);
      assert.equal(api.code, 'database_unavailable');
      assert.equal(toSendGridRefusal(error).status, 503);
    });
  }

  test('a full SQLite disk fails one transaction, not every write: a group is tried item by item', () => {
    // A nearly full disk still takes small transactions in the WAL's space (seen in the drill).
    assert.equal(failsEveryWrite(pgError('SQLITE_FULL', 'database or disk is full')), false);
    assert.equal(failsEveryWrite(pgError('SQLITE_IOERR', 'disk I/O error')), true);
  });

  test('errors of the request or of the code stay what they were', () => {
    // unique_violation and a type error are not the database being away.
    assert.equal(isDatabaseUnavailable(pgError('23505', 'duplicate key value')), false);
    // A constraint or a bug in SQL on SQLite is not the disk.
    assert.equal(
      isDatabaseUnavailable(pgError('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed')),
      false,
    );
    assert.equal(isDatabaseUnavailable(pgError('SQLITE_ERROR', 'no such column: x')), false);
    assert.equal(toApiError(new TypeError('x is undefined') as FastifyError).status, 500);
    assert.equal(toSendGridRefusal(new TypeError('x is undefined')).status, 500);
  });
});
