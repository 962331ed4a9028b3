import { sql } from 'kysely';
import type { SharedWindowCounts } from '../../domain/unit-rate-limit.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Units' sending-limit windows in `unit_rate_windows` (migration 025), shared by every API
 * process on one PostgreSQL database (PostgreSQL's SQL: `greatest`, `least`). Each statement
 * commits by itself, outside the submissions' group commit: a refused request must be answered
 * before anything is written, and the table is unlogged, so a count costs no fsync.
 */
export class SqlUnitRateWindows implements SharedWindowCounts {
  constructor(private readonly handle: DatabaseHandle) {}

  async reserve(
    unitId: string,
    windowStart: number,
    wanted: number,
    limit: number,
  ): Promise<{ before: number; after: number }> {
    // One statement, one row lock held for a moment: `used_before` is set from the row as it was
    // (SET reads the old row), so RETURNING gives both counts. All of `wanted` or nothing: a
    // request too large for what is left takes no place from others meanwhile. Never lowered:
    // a limit lowered below what the window counted already takes nothing more. The casts: a
    // bare parameter in an expression would be typed text.
    const { rows } = await sql<{ used_before: number | string; used: number | string }>`
      insert into unit_rate_windows as w (unit_id, window_start, used, used_before)
      values (${unitId}, ${windowStart}::bigint,
        case when ${wanted}::integer <= ${limit}::integer then ${wanted}::integer else 0 end, 0)
      on conflict (unit_id, window_start) do update
        set used_before = w.used,
          used = case when w.used + ${wanted}::integer <= ${limit}::integer
            then w.used + ${wanted}::integer else w.used end
      returning used_before, used`.execute(this.handle.db);
    const row = rows[0];
    if (!row) throw new Error('unit_rate_windows: the upsert returned no row');
    return { before: Number(row.used_before), after: Number(row.used) };
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
