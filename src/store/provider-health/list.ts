import type { ProviderHealthReport } from '../../domain/ports/provider-health-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toHealthReport } from './rows.ts';

/** Every report, by provider and reporter. */
export async function listHealth(handle: DatabaseHandle): Promise<ProviderHealthReport[]> {
  const rows = await handle.db
    .selectFrom('provider_health')
    .selectAll()
    .orderBy('provider')
    .orderBy('reporter')
    .execute();
  return rows.map(toHealthReport);
}
