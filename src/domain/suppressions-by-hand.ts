import { newAuditEvent } from './operations/audit-event.ts';
import type { Actor } from './operations/scope.ts';
import type { SuppressionStore } from './ports/suppression-store.ts';
import type { Suppression } from './suppression.ts';

/**
 * Suppressions an operator adds or removes, through the API or the console alike: each change is
 * written with its audit event (suppression.add, suppression.remove) in one transaction, so a
 * process stopped or a database refusing between the two leaves no change off the record, and
 * nothing is recorded when nothing changed.
 */

/** An address added by hand: recorded only when the unit had no entry for it yet. */
export function addSuppressionByHand(
  store: SuppressionStore,
  actor: Actor,
  entry: Omit<Suppression, 'eventKey' | 'detail' | 'unitId'> & { unitId: string },
): Promise<{ created: boolean; suppression: Suppression }> {
  return store.add(entry, (added) =>
    newAuditEvent(
      actor,
      'suppression.add',
      { unitId: added.unitId, target: entry.email.toLowerCase() },
      entry.createdAt,
    ),
  );
}

/**
 * The address's entries removed by hand (`unitId` as `SuppressionStore.remove` takes it), each
 * recorded under its own unit; `why`, when the operator said (the console asks), is kept in the
 * event's filter. Answers the entries removed: none, nothing recorded.
 */
export function removeSuppressionByHand(
  store: SuppressionStore,
  actor: Actor,
  removal: { email: string; unitId?: string | null; why?: string },
  now: number,
): Promise<Suppression[]> {
  const { email, unitId, why } = removal;
  return store.remove(email, unitId, (removed) =>
    newAuditEvent(
      actor,
      'suppression.remove',
      {
        unitId: removed.unitId,
        target: email.toLowerCase(),
        ...(why === undefined ? {} : { filter: { why } }),
      },
      now,
    ),
  );
}
