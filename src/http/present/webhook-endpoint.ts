import type { OperationsService } from '../../domain/operations/service.ts';
import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import { isoTime, stringArray, text } from './values.ts';

export const presentEndpoint = (e: WebhookEndpoint, units: Map<string, string>, now: number) => ({
  id: text(e.id),
  unit: e.allUnits ? null : (units.get(e.unitId) ?? e.unitId),
  url: text(e.url),
  events: stringArray(e.events),
  created_at: isoTime(e.createdAt),
  previous_secret_expires_at:
    e.previousSecretExpiresAt !== null && e.previousSecretExpiresAt > now
      ? isoTime(e.previousSecretExpiresAt)
      : null,
});

/** The names of the endpoints' units, for `presentEndpoint`; none without units. */
export async function endpointUnitNames(
  operations: OperationsService | undefined,
  endpoints: WebhookEndpoint[],
): Promise<Map<string, string>> {
  return (await operations?.unitNames(endpoints.map((e) => e.unitId))) ?? new Map<string, string>();
}
