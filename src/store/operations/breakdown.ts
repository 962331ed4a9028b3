import { type Expression, type SqlBool, sql } from 'kysely';
import type { Breakdown } from '../../domain/operations/ports.ts';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import {
  conditionContext,
  messageConditions,
  messagesTable,
  unsentParts,
} from '../messages/conditions.ts';

/** How the messages `filter` matches break down, for a dry run: by status, error class, unit. */
export async function breakdown(handle: DatabaseHandle, filter: MessageFilter): Promise<Breakdown> {
  const context = await conditionContext(handle, filter);
  const result: Breakdown = {
    matched: 0,
    byStatus: new Map(),
    byErrorClass: new Map(),
    byUnitId: new Map(),
    inOtherRecovery: 0,
  };
  const add = <K>(map: Map<K, number>, key: K, n: number) => map.set(key, (map.get(key) ?? 0) + n);
  for (const part of filter.unsent ? unsentParts(filter.unsent) : [null]) {
    const rows = await handle.db
      .selectFrom(messagesTable(handle.dialect, part?.index ?? null))
      .select(['messages.status', 'messages.last_error_class', 'messages.unit_id'])
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn
          .sum<number>(
            sql`case when exists (select 1 from recovery_items ri
              where ri.message_id = messages.id and ri.state = 'pending') then 1 else 0 end`,
          )
          .as('in_other'),
      ])
      .where((eb) => {
        const terms: Expression<SqlBool>[] = messageConditions(eb, filter, context);
        if (part) terms.push(part.where(eb));
        return eb.and(terms);
      })
      .groupBy(['messages.status', 'messages.last_error_class', 'messages.unit_id'])
      .execute();
    for (const r of rows) {
      const n = Number(r.n);
      result.matched += n;
      result.inOtherRecovery += Number(r.in_other ?? 0);
      add(result.byStatus, r.status, n);
      add(result.byErrorClass, r.last_error_class ?? null, n);
      add(result.byUnitId, r.unit_id, n);
    }
  }
  return result;
}
