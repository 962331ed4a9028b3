import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { forgetEndpoints } from './endpoint-cache.ts';
import { toEndpoint } from './rows.ts';

/**
 * Gives an active endpoint a new secret in one UPDATE, in which `secret` on the right-hand side is
 * the value before the update on both engines: the secret replaced becomes the previous one with
 * no read in between that a concurrent rotation could make stale. Without `previousExpiresAt` no
 * previous secret is kept.
 */
export async function rotateSecret(
  handle: DatabaseHandle,
  id: string,
  change: { secret: string; previousExpiresAt: number | null },
  unitId?: string,
): Promise<WebhookEndpoint | null> {
  const keep = change.previousExpiresAt !== null;
  const row = await handle.writeTransaction((trx) => {
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
    return update.returningAll().executeTakeFirst();
  });
  forgetEndpoints(handle);
  return row ? toEndpoint(row) : null;
}
