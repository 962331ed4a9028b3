import { sql } from 'kysely';
import type { SandboxEntry, SandboxOutbox } from '../domain/ports/sandbox-outbox.ts';
import type { OutboundMessage } from '../domain/types.ts';
import type { DatabaseHandle } from './engine/database.ts';
import { readJson } from './engine/read-json.ts';
import { CommitGroup } from './write/commit-group.ts';

/** Where the sandbox provider keeps what it would have sent, bounded to the newest `limit`. */
export class SqlSandboxOutbox implements SandboxOutbox {
  private readonly writes: CommitGroup<SandboxEntry, undefined>;
  private sinceTrim = 0;

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly limit: number,
  ) {
    this.writes = new CommitGroup(async (group) => {
      await handle.writeTransaction((trx) =>
        handle.dialect.insertRows(
          trx,
          'sandbox_messages',
          group.map((e) => ({
            id: e.id,
            message_id: e.messageId,
            attempt: e.attempt,
            envelope_from: e.envelopeFrom,
            envelope_to: JSON.stringify(e.envelopeTo),
            subject: e.subject,
            message: JSON.stringify(e.message),
            created_at: e.createdAt,
          })),
        ),
      );
      this.sinceTrim += group.length;
      // Trimming costs a scan; do it once per ~1,000 stored messages, not on every write.
      if (this.sinceTrim >= 1000) {
        this.sinceTrim = 0;
        await this.trim();
      }
      return group.map(() => undefined);
    });
  }

  add(entry: SandboxEntry): Promise<void> {
    return this.writes.add(entry);
  }

  async list(options: {
    messageId?: string;
    unitId?: string;
    beforeId?: string;
    limit: number;
    maxBytes: number;
  }): Promise<{ entries: SandboxEntry[]; more: boolean }> {
    // First the sizes only: octet_length reads neither SQLite's overflow pages nor PostgreSQL's
    // TOAST, so a page is chosen without loading a single message.
    let sizes = this.handle.db
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
        : await this.handle.db
            .selectFrom('sandbox_messages')
            .selectAll()
            .where('id', 'in', chosen)
            .orderBy('id', 'desc')
            .execute();
    const entries = rows.map((r) => ({
      id: r.id,
      messageId: r.message_id,
      attempt: r.attempt,
      envelopeFrom: r.envelope_from,
      // Read defensively: the API shows a row it cannot parse instead of failing the page.
      envelopeTo: readJson(r.envelope_to) as string[],
      subject: r.subject,
      message: readJson(r.message) as OutboundMessage,
      createdAt: r.created_at,
    }));
    return { entries, more: candidates.length > chosen.length };
  }

  async trim(): Promise<void> {
    const cutoff = await this.handle.db
      .selectFrom('sandbox_messages')
      .select('id')
      .orderBy('id', 'desc')
      .offset(this.limit)
      .limit(1)
      .executeTakeFirst();
    if (cutoff) {
      await this.handle.db.deleteFrom('sandbox_messages').where('id', '<=', cutoff.id).execute();
    }
  }
}
