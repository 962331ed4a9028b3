import { sql } from 'kysely';
import { type DeliveryStatus, statusOfEvent } from '../../domain/recipient-state.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readJson } from '../engine/read-json.ts';
import { chunks } from '../write/insert-rows.ts';
import { foldIntoRecipients } from './fold-into-recipients.ts';
import type { Matched } from './rows.ts';
import { unmatchedIndex } from './unmatched-index.ts';

/** Where a late-matching walk stands; kept by its owner (the event store) between calls. */
export interface MatchWalk {
  /** Unmatched events older than this are no longer looked at. */
  readonly windowMs: number;
  /** Where the walk resumes: after this (received_at, event_key); null: from the oldest. */
  cursor: { receivedAt: number; key: string } | null;
}

interface WaitingEvent {
  event_key: string;
  provider_message_id: string;
  email_normalized: string;
  event: string;
  occurred_at: number;
  received_at: number;
  delivery_status: string | null;
  /** Read only where `delivery_status` is null. */
  payload: string | null;
}

/**
 * Matches events that arrived before the attempt naming their provider message id was
 * recorded (the provider can be faster than our own bookkeeping). Run periodically.
 *
 * Walks the unmatched events received within the match window, oldest first, a page of
 * `pageSize` per transaction, up to `maxPages` pages per call; the next call resumes after the
 * last event seen, and after the newest one the walk starts over. Events that will never match
 * (mail sent by other applications through the same SendGrid account) therefore cannot hide
 * the ones behind them, and each is given up once it is older than the window.
 */
export async function matchLater(
  handle: DatabaseHandle,
  walk: MatchWalk,
  pageSize: number,
  maxPages: number,
  now: number,
): Promise<number> {
  let matched = 0;
  for (let page = 0; page < maxPages; page++) {
    // On SQLite a page is synchronous work (~15 ms): let requests in between pages.
    if (page > 0) await new Promise((resolve) => setImmediate(resolve));
    const result = await matchLaterPage(handle, walk, pageSize, now);
    matched += result.matched;
    if (result.finished) break;
  }
  return matched;
}

async function matchLaterPage(
  handle: DatabaseHandle,
  walk: MatchWalk,
  pageSize: number,
  now: number,
): Promise<{ matched: number; finished: boolean }> {
  const cursor = walk.cursor;
  const page = await handle.writeTransaction(async (trx) => {
    const after = cursor
      ? sql`and (received_at, event_key) > (${cursor.receivedAt}, ${cursor.key})`
      : sql``;
    const { rows: waiting } = await sql<WaitingEvent>`select event_key, provider_message_id,
        email_normalized, event, occurred_at, received_at, delivery_status,
        case when delivery_status is null then payload end as payload
      from delivery_events${unmatchedIndex(handle.dialect)}
      where message_id is null and received_at >= ${now - walk.windowMs}
        and provider_message_id is not null ${after}
      order by received_at, event_key
      limit ${pageSize}`.execute(trx);
    const last = waiting[waiting.length - 1];
    if (!last) return { matched: 0, last: null, full: false };
    const ids = [...new Set(waiting.map((w) => w.provider_message_id as string))];
    const byProviderId = new Map<string | null, string>();
    for (const part of chunks(ids)) {
      const attempts = await trx
        .selectFrom('attempts')
        .select(['message_id', 'provider_message_id'])
        .where('provider_message_id', 'in', part)
        .execute();
      for (const a of attempts) byProviderId.set(a.provider_message_id, a.message_id);
    }
    const matched: Matched[] = [];
    for (const w of waiting) {
      const messageId = byProviderId.get(w.provider_message_id);
      if (!messageId) continue;
      const status = storedStatus(w);
      await trx
        .updateTable('delivery_events')
        .set({ message_id: messageId, delivery_status: status })
        .where('event_key', '=', w.event_key)
        .execute();
      matched.push({
        messageId,
        email: w.email_normalized,
        key: w.event_key,
        status,
        occurredAt: w.occurred_at,
      });
    }
    await foldIntoRecipients(trx, handle, matched, now);
    return { matched: matched.length, last, full: waiting.length === pageSize };
  });
  // Moved only once the page is committed: a failed page is read again next time.
  walk.cursor =
    page.full && page.last ? { receivedAt: page.last.received_at, key: page.last.event_key } : null;
  return { matched: page.matched, finished: !page.full };
}

/**
 * The status a waiting event sets: as stored, or, where the row has none (an engagement event,
 * an event stored before migration 027, or by an earlier release's process beside this one), by
 * the same rule from the event and its payload's bounce type; the update that matches it stores
 * it then.
 */
function storedStatus(w: WaitingEvent): DeliveryStatus | null {
  if (w.delivery_status !== null) return w.delivery_status as DeliveryStatus;
  const raw = (readJson(w.payload) ?? {}) as { type?: unknown };
  return statusOfEvent(w.event, typeof raw.type === 'string' ? raw.type : null);
}
