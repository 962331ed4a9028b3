import type { IngestResult } from '../../domain/ports/delivery-event-store.ts';
import { PROOF_OF_ACCEPTANCE } from '../../domain/recipient-state.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import { confirmWaitingSends } from '../delivery/confirm-waiting.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { chunks } from '../write/insert-rows.ts';
import { findOwners } from './find-owners.ts';
import { foldIntoRecipients } from './fold-into-recipients.ts';
import { type Matched, toEventRow } from './rows.ts';
import { suppressAddresses } from './suppress-addresses.ts';

const PROOF = new Set<string>(PROOF_OF_ACCEPTANCE);

/**
 * Stores a batch in one transaction: de-duplicate, match, fold into recipients' status, add
 * suppressions, confirm sends whose outcome was unknown; the status webhooks these changes
 * emit are queued in the same transaction.
 */
export function ingestEvents(
  handle: DatabaseHandle,
  options: { suppressBlocks: boolean },
  events: DeliveryEvent[],
  now: number,
): Promise<IngestResult> {
  return handle.writeTransaction(async (trx) => {
    const unique = new Map<string, DeliveryEvent>();
    for (const event of events) if (!unique.has(event.key)) unique.set(event.key, event);
    const batch = [...unique.values()];
    const owners = await findOwners(trx, batch);
    const rows = batch.map((e) => toEventRow(e, owners(e), now));
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
              status: r.delivery_status,
              occurredAt: r.occurred_at,
            },
          ]
        : [],
    );
    await foldIntoRecipients(trx, handle, matched, now);
    await suppressAddresses(
      trx,
      handle.dialect,
      fresh.flatMap((r) => {
        const event = unique.get(r.event_key);
        return event ? [{ event, messageId: r.message_id }] : [];
      }),
      options.suppressBlocks,
      now,
    );
    // Proof that the provider has a message: a send whose outcome was unknown (timed out) and
    // waits for it becomes `sent` without a second send. Duplicates count: the proof may have
    // come before the attempt was recorded, and again after.
    const proven = new Set<string>();
    for (const e of events) {
      if (e.messageId && PROOF.has(e.event)) proven.add(e.messageId);
    }
    await confirmWaitingSends(trx, handle, [...proven], now);
    return {
      received: events.length,
      stored: fresh.length,
      duplicates: events.length - fresh.length,
      matched: matched.length,
    };
  });
}
