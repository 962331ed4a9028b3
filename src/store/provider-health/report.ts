import type { ProviderHealthReport } from '../../domain/ports/provider-health-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toHealthColumns } from './rows.ts';

/** Stores a reporter's latest view of a provider, replacing its previous one. */
export async function reportHealth(
  handle: DatabaseHandle,
  report: ProviderHealthReport,
): Promise<void> {
  const { provider, reporter } = report;
  const row = toHealthColumns(report);
  await handle.db
    .insertInto('provider_health')
    .values({ provider, reporter, ...row })
    .onConflict((oc) => oc.columns(['provider', 'reporter']).doUpdateSet(row))
    .execute();
}
