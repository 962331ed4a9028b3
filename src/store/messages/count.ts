import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { conditionContext, messageConditions, messagesTable, unsentParts } from './conditions.ts';

/** How many messages match (the cursor and the limit are ignored). */
export async function countMessages(
  handle: DatabaseHandle,
  filter: MessageFilter,
): Promise<number> {
  const { beforeId: _cursor, ...rest } = filter;
  const context = await conditionContext(handle, rest);
  const parts = rest.unsent ? unsentParts(rest.unsent) : [null];
  let total = 0;
  for (const part of parts) {
    const row = await handle.db
      .selectFrom(messagesTable(handle.dialect, part?.index ?? null))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) =>
        eb.and([...messageConditions(eb, rest, context), ...(part ? [part.where(eb)] : [])]),
      )
      .executeTakeFirstOrThrow();
    total += Number(row.n);
  }
  return total;
}
