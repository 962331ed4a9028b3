import { Type } from '@sinclair/typebox';
import { decodeEventCursor } from '../domain/event-cursor.ts';
import { type IdPrefix, isIdOf, MESSAGE_ID } from '../domain/ids.ts';
import { parseIsoTime } from '../domain/operations/message-query.ts';
import type { EventCursor } from '../domain/ports/delivery-event-store.ts';
import { ApiError, type ErrorDetail } from './errors.ts';

/**
 * Cursors of the lists keyed by id (messages, the unsent view, recoveries, the audit log, the
 * sandbox): opaque to clients, base64url of the last shown entry's id.
 */
export function idCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

/** The id a cursor names; the caller checks it is one of its own ids. */
export function cursorId(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

/**
 * One page of a list that was read with one row more than `limit`, the way every list learns
 * whether it goes on: the rows to show, and the cursor that names the page's last row (null on
 * the last page, so a client stops there instead of asking for an empty page).
 */
export function pageOf<T>(
  rows: T[],
  limit: number,
  cursorOf: (last: T) => string,
): { shown: T[]; nextCursor: string | null } {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return { shown, nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

/** A list's page size: what `limit` is without one, and the most it may be. */
export interface PageSize {
  default: number;
  max: number;
}

/** Most lists: `limit` 1 to 500, default 50. */
export const DEFAULT_PAGE: PageSize = { default: 50, max: 500 };

/**
 * The `limit` query parameter of a list, one way on every list: a whole number in plain digits,
 * no sign, point, exponent, space or leading zero (`0500`, `+5`, `5.0`, `1e2` are refused, not
 * read as a number), from 1 to the list's most. The schema takes any text, so that every refusal
 * gets the same sentence from parseLimit instead of a regular expression from the schema.
 */
export function limitParameter(page: PageSize) {
  return Type.Optional(
    Type.String({
      description: `a whole number from 1 to ${page.max} in plain digits; default ${page.default}`,
    }),
  );
}

/** A list's `limit`, or its default; a problem is added to `details`. */
export function parseLimit(
  value: string | undefined,
  page: PageSize,
  details: ErrorDetail[],
): number {
  if (value === undefined) return page.default;
  const limit = /^[1-9][0-9]{0,9}$/.test(value) ? Number(value) : 0;
  if (limit < 1 || limit > page.max) {
    details.push({
      field: 'querystring.limit',
      message: `must be a whole number from 1 to ${page.max}, in plain digits without a leading zero (e.g. limit=${page.default})`,
    });
  }
  return limit;
}

/** The cursor and page size of a list of messages. */
export function parsePage(query: { cursor?: string | undefined; limit?: string | undefined }): {
  cursor: { beforeId?: string };
  limit: number;
} {
  const details: ErrorDetail[] = [];
  const limit = parseLimit(query.limit, DEFAULT_PAGE, details);
  const cursor: { beforeId?: string } = {};
  if (query.cursor !== undefined) {
    const id = cursorId(query.cursor);
    if (!MESSAGE_ID.test(id)) {
      details.push({ field: 'querystring.cursor', message: 'is not a cursor this API returned' });
    }
    cursor.beforeId = id;
  }
  if (details.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', details);
  return { cursor, limit };
}

/**
 * The page and time window of a list keyed by prefixed ids (`aud_…`, `alt_…`, `whd_…`, `whk_…`,
 * `unit_…`): `limit`
 * (parseLimit; 1 to 500, default 50, unless the list says otherwise), `after`/`before` as ISO 8601 times, and
 * a cursor naming an id with `prefix`. Every problem is named in one 400.
 */
export function parseIdPage(
  query: { limit?: string; after?: string; before?: string; cursor?: string },
  prefix: IdPrefix,
  page: PageSize = DEFAULT_PAGE,
): { limit: number; after?: number; before?: number; beforeId?: string } {
  const details: ErrorDetail[] = [];
  const limit = parseLimit(query.limit, page, details);
  const time = (field: 'after' | 'before') => {
    const value = query[field];
    if (value === undefined) return undefined;
    const ms = parseIsoTime(value);
    if (Number.isNaN(ms))
      details.push({ field: `querystring.${field}`, message: 'must be an ISO 8601 time' });
    return ms;
  };
  const after = time('after');
  const before = time('before');
  let beforeId: string | undefined;
  if (query.cursor !== undefined) {
    beforeId = cursorId(query.cursor);
    if (!isIdOf(prefix, beforeId))
      details.push({ field: 'querystring.cursor', message: 'is not a cursor this API returned' });
  }
  if (details.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', details);
  return {
    limit,
    ...(after !== undefined ? { after } : {}),
    ...(before !== undefined ? { before } : {}),
    ...(beforeId !== undefined ? { beforeId } : {}),
  };
}

/** How many events one page of `GET /v1/messages/{id}/events` holds unasked, and at most. */
export const EVENT_PAGE: PageSize = { default: 100, max: 500 };

/** The cursor (see domain/event-cursor.ts) and page size of a message's events. */
export function parseEventPage(query: {
  cursor?: string | undefined;
  limit?: string | undefined;
}): {
  before?: EventCursor;
  limit: number;
} {
  const details: ErrorDetail[] = [];
  const limit = parseLimit(query.limit, EVENT_PAGE, details);
  let before: EventCursor | undefined;
  if (query.cursor !== undefined) {
    before = decodeEventCursor(query.cursor) ?? undefined;
    if (!before)
      details.push({ field: 'querystring.cursor', message: 'is not a cursor this API returned' });
  }
  if (details.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', details);
  return { ...(before ? { before } : {}), limit };
}
