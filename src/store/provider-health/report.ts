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
  // In a write transaction: on SQLite it waits for another process's lock on a timer, not with
  // the thread stopped (engine/sqlite-busy.ts). What it writes may be lost to a machine crash.
  await handle.writeTransaction(
    (trx) =>
      trx
        .insertInto('provider_health')
        .values({ provider, reporter, ...row })
        .onConflict((oc) => oc.columns(['provider', 'reporter']).doUpdateSet(row))
        .execute(),
    { asyncCommit: true },
  );
}
