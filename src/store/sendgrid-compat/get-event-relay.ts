import type { Selectable } from 'kysely';
import type { EventRelay } from '../../domain/ports/sendgrid-event-relay-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { SendGridEventRelayTable } from '../schema.ts';

export function toEventRelay(row: Selectable<SendGridEventRelayTable>): EventRelay {
  return {
    unitId: row.unit_id,
    url: row.url,
    publicKey: row.public_key,
    privateKey: row.private_key,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export async function getEventRelay(
  handle: DatabaseHandle,
  unitId: string,
): Promise<EventRelay | null> {
  const row = await handle.db
    .selectFrom('sendgrid_event_relays')
    .selectAll()
    .where('unit_id', '=', unitId)
    .executeTakeFirst();
  return row ? toEventRelay(row) : null;
}
