import { sql } from 'kysely';
import type { SandboxEntry } from '../../domain/ports/sandbox-outbox.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toSandboxEntry } from './rows.ts';

/** A page of entries, newest first, of at most `limit` entries and about `maxBytes`. */
export async function listSandboxEntries(
  handle: DatabaseHandle,
  options: {
    messageId?: string;
    unitId?: string;
    beforeId?: string;
    limit: number;
    maxBytes: number;
  },
): Promise<{ entries: SandboxEntry[]; more: boolean }> {
  // First the sizes only: octet_length reads neither SQLite's overflow pages nor PostgreSQL's
  // TOAST, so a page is chosen without loading a single message.
  let sizes = handle.db
    .selectFrom('sandbox_messages')
    .select(['id', sql<number>`octet_length(message)`.as('size')]);
  if (options.messageId) sizes = sizes.where('message_id', '=', options.messageId);
  if (options.beforeId) sizes = sizes.where('id', '<', options.beforeId);
  const unitId = options.unitId;
  if (unitId !== undefined) {
    sizes = sizes.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('messages')
          .select('messages.id')
          .whereRef('messages.id', '=', 'sandbox_messages.message_id')
          .where('messages.unit_id', '=', unitId),
      ),
    );
  }
  const candidates = await sizes
    .orderBy('id', 'desc')
    .limit(options.limit + 1)
    .execute();
  const chosen: string[] = [];
  let bytes = 0;
  for (const c of candidates.slice(0, options.limit)) {
    const size = Number(c.size) || 0;
    if (chosen.length > 0 && bytes + size > options.maxBytes) break;
    chosen.push(c.id);
    bytes += size;
  }
  const rows =
    chosen.length === 0
      ? []
      : await handle.db
          .selectFrom('sandbox_messages')
          .selectAll()
          .where('id', 'in', chosen)
          .orderBy('id', 'desc')
          .execute();
  return { entries: rows.map(toSandboxEntry), more: candidates.length > chosen.length };
}
