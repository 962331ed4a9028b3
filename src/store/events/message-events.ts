import { sql } from 'kysely';
import type {
  EventPageRequest,
  PagedEvent,
  RecentEvents,
  TimelineEntry,
} from '../../domain/ports/delivery-event-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readJson } from '../engine/read-json.ts';

/**
 * SendGrid's times are whole seconds: within one second, events are shown in the order a
 * delivery goes through them. Part of the reading order, so it is computed by the database.
 */
const NATURAL_ORDER = ['processed', 'dropped', 'deferred', 'delivered', 'bounce', 'open', 'click'];

const naturalRank = sql<number>`case e.event ${sql.join(
  NATURAL_ORDER.map((event, i) => sql`when ${sql.lit(event)} then ${sql.lit(i)}`),
  sql` `,
)} else ${sql.lit(NATURAL_ORDER.length)} end`;

/** True when the event's address is one of its message's recipients'. */
const matchesRecipient = sql<boolean>`exists (select 1 from recipients r
  where r.message_id = e.message_id and r.email_normalized = e.email_normalized)`;

interface EventRow {
  event_key: string;
  email_normalized: string;
  event: string;
  occurred_at: number;
  received_at: number;
  natural_rank: number;
  payload: string;
}

function toEntry(r: EventRow): TimelineEntry {
  return {
    event: r.event,
    email: r.email_normalized,
    occurredAt: Number(r.occurred_at),
    receivedAt: Number(r.received_at),
    payload: readJson(r.payload) as Record<string, unknown>,
  };
}

/**
 * The newest `perGroup` events of each recipient of a message, and of its events whose address
 * is no recipient's (one group), with each group's count, in one statement: the database numbers
 * the events without reading their payloads, and reads the payloads of those shown only.
 */
export async function recentEvents(
  handle: DatabaseHandle,
  messageId: string,
  perGroup: number,
): Promise<RecentEvents> {
  const { rows } = await sql<
    EventRow & { recipient: string | null; group_total: number }
  >`with tagged as (
      select e.event_key, e.email_normalized, e.event, e.occurred_at, e.received_at,
        ${naturalRank} as natural_rank,
        case when ${matchesRecipient} then e.email_normalized end as recipient
      from delivery_events e
      where e.message_id = ${messageId}
    ), numbered as (
      select tagged.*,
        row_number() over (partition by recipient
          order by occurred_at desc, natural_rank desc, received_at desc, event_key desc) as newest,
        count(*) over (partition by recipient) as group_total
      from tagged
    )
    select n.event_key, n.email_normalized, n.event, n.occurred_at, n.received_at,
      n.natural_rank, n.recipient, n.group_total, d.payload
    from numbered n join delivery_events d on d.event_key = n.event_key
    where n.newest <= ${perGroup}
    order by n.occurred_at, n.natural_rank, n.received_at, n.event_key`.execute(handle.db);
  const recipients = new Map<string, { events: TimelineEntry[]; total: number }>();
  const others: { events: TimelineEntry[]; total: number } = { events: [], total: 0 };
  for (const r of rows) {
    let group = others;
    if (r.recipient !== null) {
      group = recipients.get(r.recipient) ?? { events: [], total: 0 };
      recipients.set(r.recipient, group);
    }
    group.total = Number(r.group_total);
    group.events.push(toEntry(r));
  }
  return { recipients, others };
}

/**
 * A page of a message's events, newest first, after `before`; null when the message is not
 * found (with `unitId`: not that unit's, so its events are not either). The cursor holds every
 * part of the order, so pages never repeat or skip an event; `occurred_at` alone bounds the scan
 * of the message's index.
 */
export async function eventPage(
  handle: DatabaseHandle,
  messageId: string,
  page: EventPageRequest,
): Promise<PagedEvent[] | null> {
  let owner = handle.db.selectFrom('messages').select('id').where('id', '=', messageId);
  if (page.unitId !== undefined) owner = owner.where('unit_id', '=', page.unitId);
  if (!(await owner.executeTakeFirst())) return null;
  const before = page.before;
  const after = before
    ? sql`and e.occurred_at <= ${before.occurredAt}
        and (e.occurred_at, ${naturalRank}, e.received_at, e.event_key)
          < (${before.occurredAt}, ${before.naturalRank}, ${before.receivedAt}, ${before.key})`
    : sql``;
  const { rows } = await sql<EventRow & { matches: boolean | number }>`select e.event_key,
      e.email_normalized, e.event, e.occurred_at, e.received_at, e.payload,
      ${naturalRank} as natural_rank, ${matchesRecipient} as matches
    from delivery_events e
    where e.message_id = ${messageId} ${after}
    order by e.occurred_at desc, natural_rank desc, e.received_at desc, e.event_key desc
    limit ${page.limit}`.execute(handle.db);
  return rows.map((r) => ({
    ...toEntry(r),
    matchesRecipient: Boolean(r.matches),
    cursor: {
      occurredAt: Number(r.occurred_at),
      naturalRank: Number(r.natural_rank),
      receivedAt: Number(r.received_at),
      key: r.event_key,
    },
  }));
}
