import type { EventCursor } from './ports/delivery-event-store.ts';

/**
 * A page's cursor of a message's events, opaque to clients: base64url of the last shown event's
 * place in the reading order (time, natural rank, arrival, key), so the next page starts right
 * after it. The API and the console's events page use the same one.
 */
export function encodeEventCursor(c: EventCursor): string {
  return Buffer.from(`${c.occurredAt}:${c.naturalRank}:${c.receivedAt}:${c.key}`).toString(
    'base64url',
  );
}

/**
 * The place a cursor names, or null when it is not one `encodeEventCursor` made. Checked whole
 * before it reaches the database: a time no bigint can hold, or NUL in the key (PostgreSQL
 * refuses both), would otherwise fail the read instead of being refused as a bad cursor.
 */
export function decodeEventCursor(cursor: string): EventCursor | null {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) return null;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const parts = /^(-?\d{1,15}):(\d{1,2}):(-?\d{1,15}):(.{1,1000})$/s.exec(decoded);
  if (!parts || decoded.includes('\u0000')) return null;
  return {
    occurredAt: Number(parts[1]),
    naturalRank: Number(parts[2]),
    receivedAt: Number(parts[3]),
    key: parts[4] as string,
  };
}
