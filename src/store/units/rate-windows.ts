import { sql } from 'kysely';
import type { SharedWindowCounts } from '../../domain/unit-rate-limit.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Units' sending-limit windows in `unit_rate_windows` (migration 025), shared by every API
 * process on one PostgreSQL database. Each statement commits by itself, outside the
 * submissions' group commit: a refused request must be answered before anything is written, and
 * the table is unlogged, so a count costs no fsync.
 */
export class SqlUnitRateWindows implements SharedWindowCounts {
  constructor(private readonly handle: DatabaseHandle) {}

  async take(
    unitId: string,
    windowStart: number,
    count: number,
    limit: number,
  ): Promise<{ allowed: boolean; used: number }> {
    // One round trip: the insert-or-add happens only within the limit (a first request over it
    // inserts nothing), and `found` is the count as it was, for a refusal's `remaining`. The
    // casts: two bare parameters compared would be compared as text ('3' > '25').
    const { rows } = await sql<{ taken: number | string | null; found: number | string | null }>`
      with counted as (
        insert into unit_rate_windows as w (unit_id, window_start, used)
        select ${unitId}, ${windowStart}::bigint, ${count}::integer
          where ${count}::integer <= ${limit}::integer
        on conflict (unit_id, window_start)
          do update set used = w.used + excluded.used where w.used + excluded.used <= ${limit}::integer
        returning used
      )
      select (select used from counted) as taken,
        (select used from unit_rate_windows
          where unit_id = ${unitId} and window_start = ${windowStart}) as found`.execute(
      this.handle.db,
    );
    const row = rows[0];
    if (row?.taken !== null && row?.taken !== undefined) {
      return { allowed: true, used: Number(row.taken) };
    }
    return { allowed: false, used: Number(row?.found ?? 0) };
  }

  async giveBack(unitId: string, windowStart: number, count: number): Promise<void> {
    await this.handle.db
      .updateTable('unit_rate_windows')
      .set({ used: sql`greatest(0, used - ${count})` })
      .where('unit_id', '=', unitId)
      .where('window_start', '=', windowStart)
      .execute();
  }

  async forgetBefore(windowStart: number): Promise<void> {
    await this.handle.db
      .deleteFrom('unit_rate_windows')
      .where('window_start', '<', windowStart)
      .execute();
  }
}
