import type { Kysely } from 'kysely';
import type { DeliveryEvent } from '../../domain/types.ts';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/** The message each event belongs to: our id if the provider echoed a real one, else its id. */
export async function findOwners(trx: Kysely<Database>, events: DeliveryEvent[]) {
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
