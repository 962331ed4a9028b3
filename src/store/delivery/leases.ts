import type { DatabaseHandle } from '../engine/handle.ts';
import { lastAttemptColumns } from '../messages/columns.ts';
import { chunks } from '../write/insert-rows.ts';
import { confirmFromRecordedEvents } from './confirm-waiting.ts';

/** Who holds unexpired leases on messages being sent. */
export async function activeLeaseOwners(handle: DatabaseHandle, now: number): Promise<string[]> {
  const rows = await handle.db
    .selectFrom('messages')
    .select('lease_owner')
    .distinct()
    .where('status', '=', 'sending')
    .where('lease_expires_at', '>', now)
    .execute();
  return rows.flatMap((r) => (r.lease_owner ? [r.lease_owner] : []));
}

/**
 * The messages `owner` was sending when its process died (see delivery/lease-reaper.ts); returns
 * how many. Whether the provider took each is unknown: the request may have been out. So each
 * gets an attempt of outcome `unknown` in its timeline (instead of a gap in the numbers), and
 * is handled as a send that timed out: one whose delivery event is already here is `sent` with
 * no second send, the rest wait `proofWaitMs` for one (0: due at once).
 */
export function releaseLeases(
  handle: DatabaseHandle,
  owner: string,
  now: number,
  lost: { provider: string; proofWaitMs: number },
): Promise<{ released: number; confirmed: number }> {
  return releaseWhere(handle, { owner }, now, lost);
}

/**
 * The messages whose lease ran out while `sending` (a worker elsewhere died, or stopped longer
 * than a lease), released as a dead worker's are (releaseLeases): an `unknown` attempt, `sent`
 * if a delivery event is here already, else due after `proofWaitMs`. Claims leave such rows to
 * this, so that they are not sent again at once with a gap in their attempt numbers. `keep`: the
 * messages the sweeping process's own worker still holds (sending, or writing its result while
 * the database does not take it), which it is alive to finish.
 */
export function releaseExpiredLeases(
  handle: DatabaseHandle,
  now: number,
  lost: { provider: string; proofWaitMs: number },
  keep: readonly string[] = [],
): Promise<{ released: number; confirmed: number }> {
  return releaseWhere(handle, { expiredBy: now, keep: new Set(keep) }, now, lost);
}

async function releaseWhere(
  handle: DatabaseHandle,
  which: { owner: string } | { expiredBy: number; keep: ReadonlySet<string> },
  now: number,
  lost: { provider: string; proofWaitMs: number },
): Promise<{ released: number; confirmed: number }> {
  return handle.writeTransaction(async (trx) => {
    // The update first, and the attempts only for the rows it changed: two reapers freeing the
    // same rows at once (PostgreSQL) change each row once, and a message another worker claimed
    // meanwhile is not touched.
    let update = trx
      .updateTable('messages')
      .set({
        status: 'queued',
        next_attempt_at: now + lost.proofWaitMs,
        lease_owner: null,
        lease_expires_at: null,
        last_error: 'the worker sending it stopped before it recorded the result',
        updated_at: now,
        ...lastAttemptColumns({
          provider: lost.provider,
          errorClass: 'worker_lost',
          outcome: 'unknown',
          providerFault: null,
        }),
      })
      .where('status', '=', 'sending');
    update =
      'owner' in which
        ? update.where('lease_owner', '=', which.owner)
        : update.where('lease_expires_at', '<=', which.expiredBy);
    // The owner as it was: the update's RETURNING gives the new (null) one.
    // PostgreSQL: locked here, skipping rows a result is being written for (complete.ts locks
    // them with its updates): that result decides them, and neither waits for the other.
    const found = await handle.dialect
      .skipLocked(
        trx
          .selectFrom('messages')
          .select(['id', 'lease_owner'])
          .where('status', '=', 'sending')
          .where((eb) =>
            'owner' in which
              ? eb('lease_owner', '=', which.owner)
              : eb('lease_expires_at', '<=', which.expiredBy),
          ),
      )
      .execute();
    const before = 'keep' in which ? found.filter((r) => !which.keep.has(r.id)) : found;
    if (before.length === 0) return { released: 0, confirmed: 0 };
    const owners = new Map(before.map((r) => [r.id, r.lease_owner]));
    const rows = await update
      .where(
        'id',
        'in',
        before.map((r) => r.id),
      )
      .returning(['id', 'attempt_count'])
      .execute();
    if (rows.length === 0) return { released: 0, confirmed: 0 };
    await handle.dialect.insertRows(
      trx,
      'attempts',
      rows.map((r) => ({
        message_id: r.id,
        number: r.attempt_count,
        provider: lost.provider,
        started_at: now,
        duration_ms: 0,
        outcome: 'unknown',
        http_status: null,
        provider_message_id: null,
        error_class: 'worker_lost',
        detail:
          'owner' in which
            ? `the worker sending it (${which.owner}) stopped before it recorded the result; the provider may have taken it`
            : `the lease of the worker sending it (${owners.get(r.id) ?? 'unknown'}) ran out before it recorded the result; the provider may have taken it`,
        response_excerpt: null,
        provider_fault: null,
        provider_errors: null,
        rate_limit: null,
        network_error: null,
      })),
    );
    const ids = rows.map((r) => r.id);
    const confirmed = await confirmFromRecordedEvents(trx, handle, ids, now);
    return { released: rows.length, confirmed: confirmed.length };
  });
}

/**
 * Moves the leases `owner` holds on these messages (still being sent) to `until`; returns the
 * ids whose lease it still held. A message waiting its turn for the provider must not be claimed
 * again by another worker, or by this one, and sent twice.
 */
export async function extendLeases(
  handle: DatabaseHandle,
  owner: string,
  ids: readonly string[],
  until: number,
): Promise<string[]> {
  // In a write transaction: on SQLite it waits for another process's lock on a timer, not with
  // the thread stopped. A renewal lost to a machine crash matters not: the worker died with it.
  return handle.writeTransaction(
    async (trx) => {
      const kept: string[] = [];
      // At most 500 bound ids per statement (`chunks`' default), well under SQLite's limit.
      for (const some of chunks([...ids])) {
        const rows = await trx
          .updateTable('messages')
          .set({ next_attempt_at: until, lease_expires_at: until })
          .where('status', '=', 'sending')
          .where('lease_owner', '=', owner)
          .where('id', 'in', some)
          .returning('id')
          .execute();
        for (const r of rows) kept.push(r.id);
      }
      return kept;
    },
    { asyncCommit: true },
  );
}
