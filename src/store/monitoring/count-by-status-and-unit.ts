import { sql } from 'kysely';
import { firstIdAt } from '../../domain/ids.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

type Row = { status: string; unit_id: string; n: number | string };

/**
 * Each unit's total, kept up to date without reading the whole `messages_unit` index at every
 * scrape: at 1,000,000 messages on SQLite that scan takes 80 ms with the index in memory and
 * 1.4 s from disk (measured), and it blocks the process; counting only the newest, 0.2–0.4 ms. A full scan counts the messages below a cursor id (ids sort by creation time); each
 * scrape then counts only the messages at or above it, which are few, and moves the cursor up.
 *
 * The cursor stays `LATE_WRITE_MARGIN_MS` behind the clock, so a message committed late or by a
 * process whose clock is a little behind is still counted. What the increments cannot see (mail
 * pruned after `TEGAMI_RETENTION_DAYS`, a write later than the margin) is set right by the next
 * full scan: once 200 times as long as the last one took has passed (0.5 % of the time), and at
 * least every 5 minutes. Only `sent` (the total less the other statuses) can be off, by that.
 */
const LATE_WRITE_MARGIN_MS = 60_000;
const FULL_SCAN_MAX_AGE_MS = 300_000;
const FULL_SCAN_COST_FACTOR = 200;

interface UnitTotals {
  /** `performance.now()` of the last full count: the schedule does not follow clock changes. */
  fullScanAt: number;
  fullScanTookMs: number;
  /** Every message below this id is in `below`. */
  cursor: string;
  below: Map<string, number>;
}
const totalsByHandle = new WeakMap<DatabaseHandle, UnitTotals>();
/** One read at a time per database: two scrapes at once must not both move the cursor. */
const readsInFlight = new WeakMap<DatabaseHandle, Promise<Map<string, number>>>();

/**
 * Each unit's number of messages. `now` and `fullScan` (instead of the schedule above) are for
 * tests, which must reach both ways of counting.
 */
export function unitTotals(
  handle: DatabaseHandle,
  now = Date.now(),
  fullScan?: boolean,
): Promise<Map<string, number>> {
  const running = readsInFlight.get(handle);
  if (running) return running;
  const read = readUnitTotals(handle, now, fullScan).finally(() => readsInFlight.delete(handle));
  readsInFlight.set(handle, read);
  return read;
}

async function readUnitTotals(
  handle: DatabaseHandle,
  now: number,
  fullScan: boolean | undefined,
): Promise<Map<string, number>> {
  const cursor = firstIdAt('msg', now - LATE_WRITE_MARGIN_MS);
  // Above the cursor, one short range of `messages_unit` per unit (units are never deleted).
  const byUnit = handle.dialect.indexHint('messages_unit');
  let totals = totalsByHandle.get(handle);
  const startedAt = performance.now();
  const fullScanDue =
    fullScan ??
    (!totals ||
      startedAt - totals.fullScanAt >=
        Math.min(FULL_SCAN_MAX_AGE_MS, totals.fullScanTookMs * FULL_SCAN_COST_FACTOR));
  if (!totals || fullScanDue) {
    const { rows } = await sql<Row>`select 'all' as status, unit_id, count(*) as n
      from messages ${byUnit} where id < ${cursor} group by unit_id`.execute(handle.db);
    totals = {
      fullScanAt: startedAt,
      // A first scan pays for a cold connection and cache: it sets no pace, the next one does.
      fullScanTookMs: totals ? performance.now() - startedAt : 0,
      cursor,
      below: addCounts(new Map(), rows),
    };
    totalsByHandle.set(handle, totals);
  } else if (cursor > totals.cursor) {
    const { rows } = await sql<Row>`select 'all' as status, unit_id, count(*) as n
      from messages ${byUnit} where unit_id in (select id from units)
      and id >= ${totals.cursor} and id < ${cursor} group by unit_id`.execute(handle.db);
    totals.below = addCounts(new Map(totals.below), rows);
    totals.cursor = cursor;
  }
  const { rows: recent } = await sql<Row>`select 'all' as status, unit_id, count(*) as n
    from messages ${byUnit} where unit_id in (select id from units)
    and id >= ${totals.cursor} group by unit_id`.execute(handle.db);
  return addCounts(new Map(totals.below), recent);
}

function addCounts(into: Map<string, number>, rows: Row[]): Map<string, number> {
  for (const r of rows) into.set(r.unit_id, (into.get(r.unit_id) ?? 0) + Number(r.n));
  return into;
}

/**
 * Every message by status and unit, for `tegami_messages`, without reading the table: one
 * index-only count per unit (`messages_unit`), and the statuses other than `sent` from the small
 * indexes that hold only them (unfinished mail, dead letters, cancelled mail); `sent` is the
 * rest. A whole-table `group by status, unit_id` took half a second at 100,000 messages on SQLite,
 * where it would block the process while it runs.
 */
export async function countByStatusAndUnit(
  handle: DatabaseHandle,
): Promise<{ status: string; unitId: string; count: number }[]> {
  const hint = (index: string) => handle.dialect.indexHint(index);
  const [totals, unfinished, failed, cancelled] = await Promise.all([
    unitTotals(handle),
    sql<Row>`select status, unit_id, count(*) as n from messages ${hint('messages_claim')}
      where status in ('queued', 'scheduled', 'sending') group by status, unit_id`.execute(
      handle.db,
    ),
    sql<Row>`select 'failed' as status, unit_id, count(*) as n
      from messages ${hint('messages_failed_at')}
      where status = 'failed' group by unit_id`.execute(handle.db),
    sql<Row>`select 'cancelled' as status, unit_id, count(*) as n
      from messages ${hint('messages_status')}
      where status = 'cancelled' group by unit_id`.execute(handle.db),
  ]);
  const out: { status: string; unitId: string; count: number }[] = [];
  const notSent = new Map<string, number>();
  for (const r of [...unfinished.rows, ...failed.rows, ...cancelled.rows]) {
    const n = Number(r.n);
    out.push({ status: r.status, unitId: r.unit_id, count: n });
    notSent.set(r.unit_id, (notSent.get(r.unit_id) ?? 0) + n);
  }
  for (const [unitId, total] of totals) {
    const sent = total - (notSent.get(unitId) ?? 0);
    if (sent > 0) out.push({ status: 'sent', unitId, count: sent });
  }
  return out;
}
