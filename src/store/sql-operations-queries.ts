import { type Expression, type SqlBool, sql } from 'kysely';
import type {
  Breakdown,
  OperationsQueries,
  UnsentGroup,
  UnsentSummaryData,
} from '../domain/operations/ports.ts';
import { unsentReason } from '../domain/operations/unsent.ts';
import type { MessageFilter } from '../domain/ports/message-store.ts';
import type { MessageStatus } from '../domain/types.ts';
import type { DatabaseHandle } from './engine/database.ts';
import {
  type ConditionContext,
  conditionContext,
  messageConditions,
  messagesTable,
  unsentParts,
} from './message-conditions.ts';

/** Counts for dry runs and the unsent summary, grouped in the database. */
export class SqlOperationsQueries implements OperationsQueries {
  constructor(private readonly handle: DatabaseHandle) {}

  private context(filter: MessageFilter): Promise<ConditionContext> {
    return conditionContext(this.handle, filter);
  }

  async breakdown(filter: MessageFilter): Promise<Breakdown> {
    const context = await this.context(filter);
    const result: Breakdown = {
      matched: 0,
      byStatus: new Map(),
      byErrorClass: new Map(),
      byUnitId: new Map(),
      inOtherRecovery: 0,
    };
    const add = <K>(map: Map<K, number>, key: K, n: number) =>
      map.set(key, (map.get(key) ?? 0) + n);
    for (const part of filter.unsent ? unsentParts(filter.unsent) : [null]) {
      const rows = await this.handle.db
        .selectFrom(messagesTable(this.handle.dialect, part?.index ?? null))
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

  async unsentSummary(filter: MessageFilter): Promise<UnsentSummaryData> {
    if (!filter.unsent) throw new Error('unsentSummary needs an unsent filter');
    const context = await this.context(filter);
    const groups: UnsentGroup[] = [];
    for (const part of unsentParts(filter.unsent)) {
      // Mail in trouble is counted from the index in grouping order: no sort, no table reads.
      const index = part.index === 'messages_unsent' ? 'messages_unsent_summary' : part.index;
      const rows = await this.handle.db
        .selectFrom(messagesTable(this.handle.dialect, index))
        .select([
          'messages.status',
          'messages.unit_id',
          'messages.last_provider',
          'messages.last_error_class',
          'messages.last_outcome',
          'messages.last_provider_fault',
        ])
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where((eb) => eb.and([...messageConditions(eb, filter, context), part.where(eb)]))
        .groupBy([
          'messages.status',
          'messages.unit_id',
          'messages.last_provider',
          'messages.last_error_class',
          'messages.last_outcome',
          'messages.last_provider_fault',
        ])
        .execute();
      for (const r of rows) {
        groups.push({
          reason: unsentReason({
            status: r.status as MessageStatus,
            lastOutcome: r.last_outcome ?? null,
            lastProviderFault: r.last_provider_fault ?? null,
          }),
          unitId: r.unit_id,
          provider: r.last_provider ?? null,
          errorClass: r.last_error_class ?? null,
          count: Number(r.n),
        });
      }
    }
    let oldestWaiting: UnsentSummaryData['oldestWaiting'] = null;
    if (groups.some((g) => g.reason === 'waiting')) {
      const [waiting] = unsentParts({ ...filter.unsent, reason: 'waiting' });
      const row = waiting
        ? await this.handle.db
            .selectFrom(messagesTable(this.handle.dialect, waiting.index))
            .select(['messages.id', 'messages.next_attempt_at'])
            .where((eb) => eb.and([...messageConditions(eb, filter, context), waiting.where(eb)]))
            .orderBy('messages.next_attempt_at')
            .limit(1)
            .executeTakeFirst()
        : undefined;
      if (row?.next_attempt_at != null)
        oldestWaiting = { id: row.id, dueSince: row.next_attempt_at };
    }
    return { groups, oldestWaiting };
  }
}
