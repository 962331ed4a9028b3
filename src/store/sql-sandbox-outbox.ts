import type { OutboundMessage } from '../domain/types.ts';
import type { SandboxEntry, SandboxOutbox } from '../providers/sandbox-provider.ts';
import { CommitGroup } from './commit-group.ts';
import type { DatabaseHandle } from './database.ts';
import { insertRows } from './insert-rows.ts';

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
        insertRows(
          trx,
          handle.engine,
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
    limit: number;
  }): Promise<SandboxEntry[]> {
    let query = this.handle.db.selectFrom('sandbox_messages').selectAll();
    if (options.messageId) query = query.where('message_id', '=', options.messageId);
    const unitId = options.unitId;
    if (unitId !== undefined) {
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('messages')
            .select('messages.id')
            .whereRef('messages.id', '=', 'sandbox_messages.message_id')
            .where('messages.unit_id', '=', unitId),
        ),
      );
    }
    const rows = await query.orderBy('id', 'desc').limit(options.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      messageId: r.message_id,
      attempt: r.attempt,
      envelopeFrom: r.envelope_from,
      envelopeTo: JSON.parse(r.envelope_to) as string[],
      subject: r.subject,
      message: JSON.parse(r.message) as OutboundMessage,
      createdAt: r.created_at,
    }));
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
