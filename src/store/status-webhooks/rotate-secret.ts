import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { forgetEndpoints } from './endpoint-cache.ts';
import { toEndpoint } from './rows.ts';

/**
 * Gives an active endpoint a new secret in one UPDATE, in which `secret` on the right-hand side is
 * the value before the update on both engines: the secret replaced becomes the previous one with
 * no read in between that a concurrent rotation could make stale. Without `previousExpiresAt` no
 * previous secret is kept. Its `audit` event is written in the same transaction; no such endpoint,
 * nothing is recorded.
 */
export async function rotateSecret(
  handle: DatabaseHandle,
  id: string,
  change: { secret: string; previousExpiresAt: number | null },
  unitId: string | undefined,
  audit: (rotated: WebhookEndpoint) => AuditEvent,
): Promise<WebhookEndpoint | null> {
  const keep = change.previousExpiresAt !== null;
  const rotated = await handle.writeTransaction(async (trx) => {
    let update = trx
      .updateTable('webhook_endpoints')
      .set((eb) => ({
        secret: change.secret,
        previous_secret: keep ? eb.ref('secret') : null,
        previous_secret_expires_at: change.previousExpiresAt,
      }))
      .where('id', '=', id)
      .where('disabled_at', 'is', null);
    if (unitId !== undefined)
      update = update.where('unit_id', '=', unitId).where('all_units', '=', 0);
    const row = await update.returningAll().executeTakeFirst();
    if (!row) return null;
    const endpoint = toEndpoint(row);
    await insertAuditEvent(trx, audit(endpoint));
    return endpoint;
  });
  forgetEndpoints(handle);
  return rotated;
}
