import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Queues the stored delivery events among `eventKeys` whose message came in through
 * `POST /v3/mail/send` (its content names an X-Message-Id) and whose unit has a relay. An event
 * already queued stays as it is. Events posted earlier are queued again if the provider posts
 * them again: relaying is at least once, as SendGrid's own Event Webhook is.
 */
export async function queueRelayedEvents(
  handle: DatabaseHandle,
  eventKeys: string[],
  now: number,
): Promise<number> {
  if (eventKeys.length === 0) return 0;
  // The X-Message-Id is read from the message's content JSON, the one place it is kept; the
  // engines spell JSON paths differently.
  const xMessageId = handle.dialect.jsonText(sql.ref('m.content'), ['sendgrid', 'xMessageId']);
  let queued = 0;
  for (const part of chunks(eventKeys)) {
    const result = await handle.writeTransaction((trx) =>
      trx
        .insertInto('sendgrid_relay_events')
        .columns([
          'event_key',
          'unit_id',
          'x_message_id',
          'status',
          'attempts',
          'queued_at',
          'next_attempt_at',
        ])
        .expression((eb) =>
          eb
            .selectFrom('delivery_events as de')
            .innerJoin('messages as m', 'm.id', 'de.message_id')
            .innerJoin('sendgrid_event_relays as r', 'r.unit_id', 'm.unit_id')
            .select([
              'de.event_key',
              'm.unit_id',
              xMessageId.as('x_message_id'),
              sql<string>`'pending'`.as('status'),
              sql<number>`0`.as('attempts'),
              sql<number>`${now}`.as('queued_at'),
              sql<number>`${now}`.as('next_attempt_at'),
            ])
            .where('de.event_key', 'in', part)
            .where(xMessageId, 'is not', null),
        )
        .onConflict((c) => c.column('event_key').doNothing())
        .executeTakeFirst(),
    );
    queued += Number(result.numInsertedOrUpdatedRows ?? 0);
  }
  return queued;
}
