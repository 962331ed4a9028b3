import { type Kysely, sql } from 'kysely';
import { DEFAULT_EVENT_MATCH_WINDOW_S } from '../domain/defaults.ts';
import type {
  DeliveryEventStore,
  IngestResult,
  TimelineEntry,
} from '../domain/ports/delivery-event-store.ts';
import {
  type DeliveryMark,
  foldMarks,
  outranks,
  PROOF_OF_ACCEPTANCE,
  statusOfEvent,
} from '../domain/recipient-state.ts';
import { statusWebhooksForRecipient, type WebhookEvent } from '../domain/status-webhooks.ts';
import { suppressionReasonOf } from '../domain/suppression.ts';
import type { DeliveryEvent } from '../domain/types.ts';
import type { DatabaseHandle } from './engine/database.ts';
import { readJson } from './engine/read-json.ts';
import { markConfirmed } from './mark-confirmed.ts';
import { confirmWaitingSends } from './reconcile-unknown.ts';
import type { Database, DeliveryEventTable, SuppressionTable } from './schema.ts';
import { assignSuppressionUnits } from './sql-suppression-store.ts';
import { enqueueWebhookEvents } from './sql-webhook-store.ts';
import { chunks } from './write/insert-rows.ts';

const PROOF = new Set<string>(PROOF_OF_ACCEPTANCE);

interface WaitingEvent {
  event_key: string;
  provider_message_id: string;
  email_normalized: string;
  event: string;
  occurred_at: number;
  received_at: number;
  payload: string;
}

interface Matched {
  messageId: string;
  email: string;
  key: string;
  event: string;
  bounceType: string | null;
  occurredAt: number;
}

/** Delivery events: stored once each, matched to messages, folded into recipients' status. */
export class SqlDeliveryEventStore implements DeliveryEventStore {
  /** Where the late-matching walk resumes: after this (received_at, event_key). */
  private matchCursor: { receivedAt: number; key: string } | null = null;
  private readonly matchWindowMs: number;

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly options: {
      suppressBlocks?: boolean;
      /** Unmatched events older than this are no longer looked at by `matchLater`. */
      matchWindowMs?: number;
    } = {},
  ) {
    this.matchWindowMs = options.matchWindowMs ?? DEFAULT_EVENT_MATCH_WINDOW_S * 1000;
  }

  /**
   * Stores a batch in one transaction: de-duplicate, match, fold into recipients' status, add
   * suppressions, confirm sends whose outcome was unknown; the status webhooks these changes
   * emit are queued in the same transaction.
   */
  ingest(events: DeliveryEvent[], now: number): Promise<IngestResult> {
    return this.handle.writeTransaction(async (trx) => {
      const unique = new Map<string, DeliveryEvent>();
      for (const event of events) if (!unique.has(event.key)) unique.set(event.key, event);
      const batch = [...unique.values()];
      const owners = await this.findOwners(trx, batch);
      const rows: DeliveryEventTable[] = batch.map((e) => ({
        event_key: e.key,
        provider: e.provider,
        message_id: owners(e),
        email_normalized: e.email.toLowerCase(),
        event: e.event,
        occurred_at: e.occurredAt,
        received_at: now,
        provider_message_id: e.providerMessageId,
        payload: JSON.stringify(e.raw),
      }));
      const inserted = new Set<string>();
      for (const part of chunks(rows, 2_000)) {
        const keys = await trx
          .insertInto('delivery_events')
          .values(part)
          .onConflict((oc) => oc.column('event_key').doNothing())
          .returning('event_key')
          .execute();
        for (const k of keys) inserted.add(k.event_key);
      }
      const fresh = rows.filter((r) => inserted.has(r.event_key));
      const matched = fresh.flatMap((r): Matched[] =>
        r.message_id
          ? [
              {
                messageId: r.message_id,
                email: r.email_normalized,
                key: r.event_key,
                event: r.event,
                bounceType: unique.get(r.event_key)?.bounceType ?? null,
                occurredAt: r.occurred_at,
              },
            ]
          : [],
      );
      await this.derive(trx, matched, now);
      await this.suppress(
        trx,
        fresh.flatMap((r) => {
          const e = unique.get(r.event_key);
          return e ? [e] : [];
        }),
        now,
      );
      await assignSuppressionUnits(
        trx,
        fresh.map((r) => r.event_key),
      );
      // Proof that the provider has a message: a send whose outcome was unknown (timed out) and
      // waits for it becomes `sent` without a second send. Duplicates count: the proof may have
      // come before the attempt was recorded, and again after.
      const proven = new Set<string>();
      for (const e of events) {
        if (e.messageId && PROOF.has(e.event)) proven.add(e.messageId);
      }
      await confirmWaitingSends(trx, this.handle, [...proven], now);
      return {
        received: events.length,
        stored: fresh.length,
        duplicates: events.length - fresh.length,
        matched: matched.length,
      };
    });
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
  async matchLater(pageSize: number, maxPages = 1, now = Date.now()): Promise<number> {
    let matched = 0;
    for (let page = 0; page < maxPages; page++) {
      // On SQLite a page is synchronous work (~15 ms): let requests in between pages.
      if (page > 0) await new Promise((resolve) => setImmediate(resolve));
      const result = await this.matchLaterPage(pageSize, now);
      matched += result.matched;
      if (result.finished) break;
    }
    return matched;
  }

  private async matchLaterPage(
    pageSize: number,
    now: number,
  ): Promise<{ matched: number; finished: boolean }> {
    const cursor = this.matchCursor;
    const page = await this.handle.writeTransaction(async (trx) => {
      const after = cursor
        ? sql`and (received_at, event_key) > (${cursor.receivedAt}, ${cursor.key})`
        : sql``;
      const { rows: waiting } = await sql<WaitingEvent>`select event_key, provider_message_id,
          email_normalized, event, occurred_at, received_at, payload
        from delivery_events${this.unmatchedIndex()}
        where message_id is null and received_at >= ${now - this.matchWindowMs}
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
        await trx
          .updateTable('delivery_events')
          .set({ message_id: messageId })
          .where('event_key', '=', w.event_key)
          .execute();
        const raw = (readJson(w.payload) ?? {}) as { type?: unknown };
        matched.push({
          messageId,
          email: w.email_normalized,
          key: w.event_key,
          event: w.event,
          bounceType: typeof raw.type === 'string' ? raw.type : null,
          occurredAt: w.occurred_at,
        });
      }
      await this.derive(trx, matched, now);
      return { matched: matched.length, last, full: waiting.length === pageSize };
    });
    // Moved only once the page is committed: a failed page is read again next time.
    this.matchCursor =
      page.full && page.last
        ? { receivedAt: page.last.received_at, key: page.last.event_key }
        : null;
    return { matched: page.matched, finished: !page.full };
  }

  /**
   * Deletes up to `limit` events that never matched a message and arrived before
   * `receivedBefore` (matched events go with their message). Returns how many.
   */
  async pruneUnmatched(receivedBefore: number, limit: number): Promise<number> {
    return this.handle.writeTransaction(async (trx) => {
      const { rows } = await sql<{ event_key: string }>`select event_key
        from delivery_events${this.unmatchedIndex()}
        where message_id is null and received_at < ${receivedBefore}
        order by received_at, event_key
        limit ${limit}`.execute(trx);
      const keys = rows.map((r) => r.event_key);
      if (keys.length === 0) return 0;
      await trx.deleteFrom('delivery_events').where('event_key', 'in', keys).execute();
      return keys.length;
    });
  }

  /**
   * SQLite, without statistics, reads all unmatched events through `delivery_events_message`
   * (message_id is null) and sorts them: ~125 ms per page at 180,000 unmatched events, with the
   * event loop held. Naming the partial index keeps a page at a fraction of a millisecond.
   * PostgreSQL keeps statistics and picks it by itself.
   */
  private unmatchedIndex() {
    return this.handle.dialect.indexHint('delivery_events_unmatched_received');
  }

  async timeline(messageId: string): Promise<TimelineEntry[]> {
    const rows = await this.handle.db
      .selectFrom('delivery_events')
      .select(['event', 'email_normalized', 'occurred_at', 'received_at', 'payload'])
      .where('message_id', '=', messageId)
      .orderBy('occurred_at')
      .orderBy('received_at')
      .execute();
    // SendGrid's times are whole seconds: within one second, show events in their natural order.
    rows.sort(
      (a, b) =>
        a.occurred_at - b.occurred_at ||
        naturalOrder(a.event) - naturalOrder(b.event) ||
        a.received_at - b.received_at,
    );
    return rows.map((r) => ({
      event: r.event,
      email: r.email_normalized,
      occurredAt: r.occurred_at,
      receivedAt: r.received_at,
      payload: readJson(r.payload) as Record<string, unknown>,
    }));
  }

  /** The message each event belongs to: our id if the provider echoed a real one, else its id. */
  private async findOwners(trx: Kysely<Database>, events: DeliveryEvent[]) {
    const claimed = [...new Set(events.flatMap((e) => (e.messageId ? [e.messageId] : [])))];
    const known = new Set<string>();
    for (const part of chunks(claimed)) {
      const rows = await trx.selectFrom('messages').select('id').where('id', 'in', part).execute();
      for (const r of rows) known.add(r.id);
    }
    const byProvider = new Map<string, string>();
    const providerIds = [
      ...new Set(
        events.flatMap((e) =>
          (!e.messageId || !known.has(e.messageId)) && e.providerMessageId
            ? [e.providerMessageId]
            : [],
        ),
      ),
    ];
    for (const part of chunks(providerIds)) {
      const rows = await trx
        .selectFrom('attempts')
        .select(['message_id', 'provider_message_id'])
        .where('provider_message_id', 'in', part)
        .execute();
      for (const r of rows)
        if (r.provider_message_id) byProvider.set(r.provider_message_id, r.message_id);
    }
    return (e: DeliveryEvent): string | null => {
      if (e.messageId && known.has(e.messageId)) return e.messageId;
      return e.providerMessageId ? (byProvider.get(e.providerMessageId) ?? null) : null;
    };
  }

  /**
   * Puts the addresses of new hard bounces, spam reports and unsubscribes (and blocks, if so
   * configured) on the suppression list, matched to a message or not. An address already on it
   * keeps its first reason.
   */
  private async suppress(trx: Kysely<Database>, events: DeliveryEvent[], now: number) {
    const rows = new Map<string, SuppressionTable>();
    // Within one batch too, the earliest event gives the reason.
    const ordered = [...events].sort((a, b) => a.occurredAt - b.occurredAt);
    for (const e of ordered) {
      const reason = suppressionReasonOf(e, this.options.suppressBlocks ?? false);
      const normalized = e.email.toLowerCase();
      if (!reason || rows.has(normalized)) continue;
      const detail = e.raw.reason;
      rows.set(normalized, {
        email_normalized: normalized,
        email: e.email,
        reason,
        source: 'event',
        event_key: e.key,
        // PostgreSQL text cannot hold NUL; the reason is for people, so it is shown without.
        detail:
          typeof detail === 'string' && detail !== '' ? detail.replaceAll('\u0000', '') : null,
        created_at: now,
        unit_id: null,
      });
    }
    for (const part of chunks([...rows.values()], 1_000)) {
      await trx
        .insertInto('suppressions')
        .values(part)
        .onConflict((oc) => oc.column('email_normalized').doNothing())
        .execute();
    }
  }

  /** Folds new delivery events into each recipient's status; order and duplicates do not matter. */
  private async derive(trx: Kysely<Database>, events: Matched[], now: number): Promise<void> {
    await markConfirmed(
      trx,
      events.map((e) => e.messageId),
      now,
    );
    const candidates = new Map<string, DeliveryMark[]>();
    for (const e of events) {
      const status = statusOfEvent(e.event, e.bounceType);
      if (!status) continue;
      const id = `${e.messageId}\n${e.email}`;
      const list = candidates.get(id) ?? [];
      list.push({ status, at: e.occurredAt, eventId: e.key });
      candidates.set(id, list);
    }
    if (candidates.size === 0) return;
    const messageIds = [...new Set(events.map((e) => e.messageId))];
    const changes: { messageId: string; email: string; mark: DeliveryMark }[] = [];
    const webhooks: WebhookEvent[] = [];
    for (const part of chunks(messageIds)) {
      const query = trx
        .selectFrom('recipients')
        .select([
          'message_id',
          'email_normalized',
          'delivery_status',
          'delivery_status_at',
          'delivery_event_key',
        ])
        .where('message_id', 'in', part);
      // PostgreSQL: two batches about one recipient must not both read the old status.
      const recipients = await this.handle.dialect.lockRowsForUpdate(query).execute();
      for (const r of recipients) {
        const best = foldMarks(candidates.get(`${r.message_id}\n${r.email_normalized}`) ?? []);
        if (!best) continue;
        const current: DeliveryMark | null =
          r.delivery_status && r.delivery_status_at !== null && r.delivery_event_key
            ? {
                status: r.delivery_status as DeliveryMark['status'],
                at: r.delivery_status_at,
                eventId: r.delivery_event_key,
              }
            : null;
        if (!outranks(best, current)) continue;
        changes.push({ messageId: r.message_id, email: r.email_normalized, mark: best });
        webhooks.push(
          ...statusWebhooksForRecipient(
            r.message_id,
            r.email_normalized,
            current?.status ?? null,
            best.status,
          ),
        );
      }
    }
    // One statement for all changes: on PostgreSQL one round trip per change was most of the
    // time of a 1,000-event batch.
    for (const part of chunks(changes, 1_000)) {
      const rows = sql.join(
        part.map(
          (c) =>
            sql`(${c.messageId}, ${c.email}, ${c.mark.status}, cast(${c.mark.at} as bigint), ${c.mark.eventId})`,
        ),
      );
      await sql`with v(message_id, email, status, at, event_key) as (values ${rows})
        update recipients set
          delivery_status = v.status,
          delivery_status_at = v.at,
          delivery_event_key = v.event_key
        from v
        where recipients.message_id = v.message_id and recipients.email_normalized = v.email`.execute(
        trx,
      );
    }
    await enqueueWebhookEvents(trx, this.handle, webhooks, now);
  }
}

const NATURAL_ORDER = ['processed', 'dropped', 'deferred', 'delivered', 'bounce', 'open', 'click'];

function naturalOrder(event: string): number {
  const index = NATURAL_ORDER.indexOf(event);
  return index === -1 ? NATURAL_ORDER.length : index;
}
