import { decodeEventCursor } from '../domain/event-cursor.ts';
import type { IdPrefix } from '../domain/ids.ts';
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

/** The cursor and page size of a list of messages. */
export function parsePage(query: { cursor?: string | undefined; limit?: string | undefined }): {
  cursor: { beforeId?: string };
  limit: number;
} {
  const details: ErrorDetail[] = [];
  let limit = 50;
  if (query.limit !== undefined) {
    limit = Number(query.limit);
    if (limit < 1 || limit > 500)
      details.push({ field: 'querystring.limit', message: 'must be 1 to 500' });
  }
  const cursor: { beforeId?: string } = {};
  if (query.cursor !== undefined) {
    const id = cursorId(query.cursor);
    if (!/^msg_[0-9A-Z]{26}$/.test(id)) {
      details.push({ field: 'querystring.cursor', message: 'is not a cursor this API returned' });
    }
    cursor.beforeId = id;
  }
  if (details.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', details);
  return { cursor, limit };
}

/**
 * The page and time window of a list keyed by prefixed ids (`aud_…`, `alt_…`, `whd_…`): `limit`
 * (1 to 500, default 50, unless the list says otherwise), `after`/`before` as ISO 8601 times, and
 * a cursor naming an id with `prefix`. Every problem is named in one 400.
 */
export function parseIdPage(
  query: { limit?: string; after?: string; before?: string; cursor?: string },
  prefix: IdPrefix,
  limits: { default: number; max: number } = { default: 50, max: 500 },
): { limit: number; after?: number; before?: number; beforeId?: string } {
  const details: ErrorDetail[] = [];
  const limit = Number(query.limit ?? limits.default);
  if (limit < 1 || limit > limits.max)
    details.push({ field: 'querystring.limit', message: `must be 1 to ${limits.max}` });
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
    if (!new RegExp(`^${prefix}_[0-9A-Z]{26}$`).test(beforeId))
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

/** Most events one page of `GET /v1/messages/{id}/events` holds, and how many it holds unasked. */
export const EVENT_PAGE_MAX = 500;
export const EVENT_PAGE_DEFAULT = 100;

/** The cursor (see domain/event-cursor.ts) and page size of a message's events. */
export function parseEventPage(query: {
  cursor?: string | undefined;
  limit?: string | undefined;
}): {
  before?: EventCursor;
  limit: number;
} {
  const details: ErrorDetail[] = [];
  let limit = EVENT_PAGE_DEFAULT;
  if (query.limit !== undefined) {
    limit = Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > EVENT_PAGE_MAX)
      details.push({ field: 'querystring.limit', message: `must be 1 to ${EVENT_PAGE_MAX}` });
  }
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
