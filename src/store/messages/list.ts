import type { Selectable } from 'kysely';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { MessageRecord } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { RecipientTable } from '../schema.ts';
import { unitNamesOf } from '../units/names-of.ts';
import { conditionContext, messageConditions, messagesTable, unsentParts } from './conditions.ts';
import { toMessageRecord } from './rows.ts';

/** A page of messages matching `filter`, newest first, with their recipients (not attempts). */
export async function listMessages(
  handle: DatabaseHandle,
  filter: MessageFilter,
): Promise<MessageRecord[]> {
  const db = handle.db;
  const context = await conditionContext(handle, filter);
  // The unsent view is two disjoint sets, each read from its own partial index: the newest
  // `limit` of each, merged.
  const parts = filter.unsent ? unsentParts(filter.unsent) : [null];
  const results = await Promise.all(
    parts.map((part) =>
      db
        .selectFrom(messagesTable(handle.dialect, part?.index ?? null))
        .selectAll()
        .where((eb) =>
          eb.and([...messageConditions(eb, filter, context), ...(part ? [part.where(eb)] : [])]),
        )
        .orderBy('id', 'desc')
        .limit(filter.limit)
        .execute(),
    ),
  );
  const rows = results
    .flat()
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, filter.limit);
  if (rows.length === 0) return [];
  const [recipients, names] = await Promise.all([
    db
      .selectFrom('recipients')
      .selectAll()
      .where(
        'message_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('message_id')
      .orderBy('position')
      .execute(),
    unitNamesOf(
      handle,
      rows.map((r) => r.unit_id),
    ),
  ]);
  const byMessage = new Map<string, Selectable<RecipientTable>[]>();
  for (const r of recipients) {
    const list = byMessage.get(r.message_id) ?? [];
    list.push(r);
    byMessage.set(r.message_id, list);
  }
  return rows.map((row) =>
    toMessageRecord(row, names.get(row.unit_id) ?? row.unit_id, byMessage.get(row.id) ?? [], []),
  );
}
