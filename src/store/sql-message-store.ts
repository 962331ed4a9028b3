import type { Insertable, Kysely, Selectable } from 'kysely';
import { firstIdAt } from '../domain/ids.ts';
import { DEFAULT_UNIT_NAME } from '../domain/operations/units.ts';
import type {
  MessageFilter,
  MessageStore,
  StateChange,
  Submission,
  SubmissionOutcome,
} from '../domain/ports/message-store.ts';
import type {
  Attempt,
  MessageContent,
  MessageRecord,
  MessageStatus,
  ProviderError,
  ProviderFault,
  RateLimitInfo,
  Recipient,
  RecipientKind,
  RecipientStatus,
  SendOutcome,
} from '../domain/types.ts';
import type { DatabaseHandle, Dialect } from './engine/database.ts';
import { readJson } from './engine/read-json.ts';
import {
  type ConditionContext,
  conditionContext,
  messageConditions,
  messagesTable,
  unsentParts,
} from './message-conditions.ts';
import type { AttemptTable, Database, MessageTable, RecipientTable } from './schema.ts';
import { SqlUnitStore } from './sql-unit-store.ts';
import { CommitGroup } from './write/commit-group.ts';
import { chunks, insertion } from './write/insert-rows.ts';

/** Accepting, reading and changing messages on behalf of the API. */
export class SqlMessageStore implements MessageStore {
  private readonly submissions: CommitGroup<Submission, SubmissionOutcome>;
  private readonly units: SqlUnitStore;

  constructor(private readonly handle: DatabaseHandle) {
    this.units = new SqlUnitStore(handle);
    this.submissions = new CommitGroup(
      (group) =>
        // Where the dialect makes it one statement (PostgreSQL), a group without idempotency
        // keys is atomic by itself: no BEGIN and COMMIT round trips around it.
        handle.dialect.multiTableInsertIsOneStatement && !group.some((s) => s.idempotency)
          ? writeSubmissions(handle.db, group, handle.dialect)
          : handle.writeTransaction((trx) => writeSubmissions(trx, group, handle.dialect)),
      1000,
      handle.writeConcurrency,
    );
  }

  submit(submission: Submission): Promise<SubmissionOutcome> {
    return this.submissions.add(submission);
  }

  flushed(): Promise<void> {
    return this.submissions.flushed();
  }

  async findIdempotent(apiKeyId: string, key: string) {
    const row = await this.handle.db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'response_status', 'response_body'])
      .where('api_key_id', '=', apiKeyId)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!row) return null;
    return { requestHash: row.request_hash, status: row.response_status, body: row.response_body };
  }

  async get(id: string, unitId?: string): Promise<MessageRecord | null> {
    const db = this.handle.db;
    let query = db.selectFrom('messages').selectAll().where('id', '=', id);
    if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
    const row = await query.executeTakeFirst();
    if (!row) return null;
    const [recipients, attempts, unit] = await Promise.all([
      db
        .selectFrom('recipients')
        .selectAll()
        .where('message_id', '=', id)
        .orderBy('position')
        .execute(),
      db
        .selectFrom('attempts')
        .selectAll()
        .where('message_id', '=', id)
        .orderBy('number')
        .execute(),
      this.units.findById(row.unit_id),
    ]);
    return toRecord(row, unit?.name ?? row.unit_id, recipients, attempts);
  }

  async list(filter: MessageFilter): Promise<MessageRecord[]> {
    const db = this.handle.db;
    const context = await this.conditionContext(filter);
    // The unsent view is two disjoint sets, each read from its own partial index: the newest
    // `limit` of each, merged.
    const parts = filter.unsent ? unsentParts(filter.unsent) : [null];
    const results = await Promise.all(
      parts.map((part) =>
        db
          .selectFrom(messagesTable(this.handle.dialect, part?.index ?? null))
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
      this.units.namesOf(rows.map((r) => r.unit_id)),
    ]);
    const byMessage = new Map<string, Selectable<RecipientTable>[]>();
    for (const r of recipients) {
      const list = byMessage.get(r.message_id) ?? [];
      list.push(r);
      byMessage.set(r.message_id, list);
    }
    return rows.map((row) =>
      toRecord(row, names.get(row.unit_id) ?? row.unit_id, byMessage.get(row.id) ?? [], []),
    );
  }

  /** How many messages match (the cursor and the limit are ignored). */
  async count(filter: MessageFilter): Promise<number> {
    const { beforeId: _cursor, ...rest } = filter;
    const context = await this.conditionContext(rest);
    const parts = rest.unsent ? unsentParts(rest.unsent) : [null];
    let total = 0;
    for (const part of parts) {
      const row = await this.handle.db
        .selectFrom(messagesTable(this.handle.dialect, part?.index ?? null))
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where((eb) =>
          eb.and([...messageConditions(eb, rest, context), ...(part ? [part.where(eb)] : [])]),
        )
        .executeTakeFirstOrThrow();
      total += Number(row.n);
    }
    return total;
  }

  private conditionContext(filter: MessageFilter): Promise<ConditionContext> {
    return conditionContext(this.handle, filter);
  }

  cancel(id: string, now: number, unitId?: string): Promise<StateChange> {
    return this.changeStatus(id, unitId, ['queued', 'scheduled'], async (trx) => {
      await trx
        .updateTable('messages')
        .set({ status: 'cancelled', next_attempt_at: null, updated_at: now })
        .where('id', '=', id)
        .execute();
      await setRecipientStatus(trx, [id], 'cancelled', now);
    });
  }

  retry(id: string, now: number, unitId?: string): Promise<StateChange> {
    return this.changeStatus(id, unitId, ['failed'], async (trx) => {
      // A manual retry starts a fresh retry budget; attempt numbers go on counting, so the
      // earlier attempts stay on record beside the new ones.
      await trx
        .updateTable('messages')
        .set((eb) => ({
          status: 'queued',
          next_attempt_at: now,
          attempts_before_retry: eb.ref('attempt_count'),
          updated_at: now,
        }))
        .where('id', '=', id)
        .execute();
      await setRecipientStatus(trx, [id], 'pending', now);
    });
  }

  async pruneIdempotencyKeys(olderThan: number): Promise<number> {
    const result = await this.handle.db
      .deleteFrom('idempotency_keys')
      .where('created_at', '<', olderThan)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Messages sent in the last 48 hours, before `sentBefore`, with no delivery event yet. Bounded
   * by id (ids are time-ordered) so it reads a small range of the status index, not the table.
   */
  async countUnconfirmed(sentBefore: number, now: number): Promise<number> {
    const row = await this.handle.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'sent')
      .where('id', '>=', firstIdAt('msg', now - 48 * 3600_000))
      .where('sent_at', '<', sentBefore)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('delivery_events')
              .select('delivery_events.message_id')
              .whereRef('delivery_events.message_id', '=', 'messages.id'),
          ),
        ),
      )
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Deletes up to `limit` finished (sent, failed, cancelled) messages created before `before`,
   * with their recipients, categories, metadata and attempts. Small batches keep each
   * transaction short; ids are time-ordered ULIDs, so the scan is a primary-key range.
   */
  async pruneFinished(before: number, limit: number): Promise<number> {
    return this.handle.writeTransaction(async (trx) => {
      const rows = await trx
        .selectFrom('messages')
        .select('id')
        .where('id', '<', firstIdAt('msg', before))
        .where('status', 'in', ['sent', 'failed', 'cancelled'])
        .orderBy('id')
        .limit(limit)
        .execute();
      const ids = rows.map((r) => r.id);
      if (ids.length === 0) return 0;
      for (const table of [
        'recipients',
        'message_categories',
        'message_metadata',
        'attempts',
        'delivery_events',
      ] as const) {
        await trx.deleteFrom(table).where('message_id', 'in', ids).execute();
      }
      await trx.deleteFrom('messages').where('id', 'in', ids).execute();
      return ids.length;
    });
  }

  private async changeStatus(
    id: string,
    unitId: string | undefined,
    allowed: MessageStatus[],
    change: (trx: Kysely<Database>) => Promise<void>,
  ): Promise<StateChange> {
    const outcome = await this.handle.writeTransaction(async (trx) => {
      let query = trx.selectFrom('messages').select('status').where('id', '=', id);
      // Another unit's message does not exist for this caller.
      if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
      // PostgreSQL: hold the row until the change is written, so a worker cannot claim it in
      // between. (SQLite's write lock, taken at BEGIN IMMEDIATE, already does.)
      const row = await this.handle.dialect.lockRowsForUpdate(query).executeTakeFirst();
      if (!row) return { kind: 'not_found' } as const;
      const status = row.status as MessageStatus;
      if (!allowed.includes(status)) return { kind: 'wrong_status', status } as const;
      await change(trx);
      return { kind: 'changed' } as const;
    });
    if (outcome.kind !== 'changed') return outcome;
    const record = await this.get(id);
    return record ? { kind: 'changed', record } : { kind: 'not_found' };
  }
}

/** A message's columns once the provider has it: sent, no longer due, no lease, no error. */
export function sentColumns(now: number) {
  return {
    status: 'sent',
    sent_at: now,
    next_attempt_at: null,
    lease_owner: null,
    lease_expires_at: null,
    last_error: null,
    updated_at: now,
  } as const;
}

export async function setRecipientStatus(
  trx: Kysely<Database>,
  messageIds: string[],
  status: RecipientStatus,
  now: number,
): Promise<void> {
  for (const ids of chunks(messageIds)) {
    await trx
      .updateTable('recipients')
      .set({ status, suppressed_reason: null, updated_at: now })
      .where('message_id', 'in', ids)
      .execute();
  }
}

async function writeSubmissions(
  trx: Kysely<Database>,
  group: Submission[],
  dialect: Dialect,
): Promise<SubmissionOutcome[]> {
  const outcomes: SubmissionOutcome[] = [];
  const messages: MessageTable[] = [];
  const recipients: Insertable<RecipientTable>[] = [];
  const categories: Database['message_categories'][] = [];
  const metadata: Database['message_metadata'][] = [];
  // Keys claimed earlier in this same group (api key + idempotency key -> stored answer).
  const claimedKeys = new Map<
    string,
    { request_hash: string; response_status: number; response_body: string }
  >();

  let defaultUnitId: string | undefined;
  if (group.some((s) => s.messages.some((m) => m.unitId === undefined))) {
    defaultUnitId = (
      await trx
        .selectFrom('units')
        .select('id')
        .where('name', '=', DEFAULT_UNIT_NAME)
        .executeTakeFirstOrThrow()
    ).id;
  }

  for (const submission of group) {
    const claim = submission.idempotency;
    if (claim) {
      // Checked inside the write transaction, so two concurrent requests with the same key
      // cannot both be stored, even from two API processes.
      const scoped = `${claim.apiKeyId}\n${claim.key}`;
      // Two API processes with the same key: the second waits here until the first commits,
      // then finds its row. (On SQLite the write lock already serialises them.)
      await dialect.advisoryXactLock(trx, scoped);
      const earlier = claimedKeys.get(scoped);
      const existing =
        earlier ??
        (await trx
          .selectFrom('idempotency_keys')
          .select(['request_hash', 'response_status', 'response_body'])
          .where('api_key_id', '=', claim.apiKeyId)
          .where('key', '=', claim.key)
          .executeTakeFirst());
      if (existing) {
        outcomes.push(
          existing.request_hash === claim.requestHash
            ? { kind: 'replay', status: existing.response_status, body: existing.response_body }
            : { kind: 'idempotency_conflict' },
        );
        continue;
      }
      claimedKeys.set(scoped, {
        request_hash: claim.requestHash,
        response_status: claim.responseStatus,
        response_body: claim.responseBody,
      });
    }

    for (const message of submission.messages) {
      const { content } = message;
      messages.push({
        id: message.id,
        api_key_id: message.apiKeyId,
        unit_id: message.unitId ?? (defaultUnitId as string),
        status: message.sendAt === null ? 'queued' : 'scheduled',
        from_email: content.from.email,
        subject: content.subject,
        content: JSON.stringify(content),
        send_at: message.sendAt,
        created_at: message.createdAt,
        updated_at: message.createdAt,
        attempt_count: 0,
        attempts_before_retry: 0,
        next_attempt_at: message.sendAt ?? message.createdAt,
        lease_owner: null,
        lease_expires_at: null,
        sent_at: null,
        last_error: null,
        last_provider: null,
        last_error_class: null,
        last_outcome: null,
        last_provider_fault: null,
        failed_at: null,
        confirmed_at: null,
      });
      let position = 0;
      for (const kind of ['to', 'cc', 'bcc'] as const) {
        for (const address of content[kind]) {
          recipients.push({
            message_id: message.id,
            position: position++,
            kind,
            email: address.email,
            email_normalized: address.email.toLowerCase(),
            email_domain: address.email.slice(address.email.lastIndexOf('@') + 1).toLowerCase(),
            name: address.name ?? null,
            status: 'pending',
            updated_at: message.createdAt,
          });
        }
      }
      for (const category of content.categories) {
        categories.push({ message_id: message.id, category });
      }
      for (const [key, value] of Object.entries(content.metadata)) {
        metadata.push({ message_id: message.id, key, value });
      }
    }
    outcomes.push({ kind: 'stored' });
  }

  const keyRows = group.flatMap((s, i) =>
    s.idempotency && outcomes[i]?.kind === 'stored'
      ? [
          {
            api_key_id: s.idempotency.apiKeyId,
            key: s.idempotency.key,
            request_hash: s.idempotency.requestHash,
            response_status: s.idempotency.responseStatus,
            response_body: s.idempotency.responseBody,
            created_at: s.messages[0]?.createdAt ?? Date.now(),
          },
        ]
      : [],
  );
  await dialect.insertIntoTables(trx, [
    insertion('messages', messages),
    insertion('recipients', recipients),
    insertion('message_categories', categories),
    insertion('message_metadata', metadata),
    insertion('idempotency_keys', keyRows),
  ]);
  return outcomes;
}

function toRecord(
  row: Selectable<MessageTable>,
  unitName: string,
  recipients: Selectable<RecipientTable>[],
  attempts: Selectable<AttemptTable>[],
): MessageRecord {
  return {
    id: row.id,
    status: row.status as MessageStatus,
    unitId: row.unit_id,
    unit: unitName,
    lastProvider: row.last_provider ?? null,
    lastErrorClass: row.last_error_class ?? null,
    lastOutcome: row.last_outcome ?? null,
    lastProviderFault: row.last_provider_fault ?? null,
    failedAt: row.failed_at ?? null,
    // Read defensively: the API shows a row it cannot parse instead of failing (present-message.ts).
    content: readJson(row.content) as MessageContent,
    recipients: recipients.map(
      (r): Recipient => ({
        email: r.email,
        ...(r.name === null ? {} : { name: r.name }),
        kind: r.kind as RecipientKind,
        status: r.status as RecipientStatus,
        deliveryStatus: r.delivery_status ?? null,
        deliveryStatusAt: r.delivery_status_at ?? null,
        suppressedReason: r.suppressed_reason ?? null,
      }),
    ),
    sendAt: row.send_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    attemptCount: row.attempt_count,
    nextAttemptAt: row.status === 'sending' ? row.lease_expires_at : row.next_attempt_at,
    sentAt: row.sent_at,
    lastError: row.last_error,
    attempts: attempts.map(
      (a): Attempt => ({
        number: a.number,
        provider: a.provider,
        startedAt: a.started_at,
        durationMs: a.duration_ms,
        outcome: a.outcome as SendOutcome,
        httpStatus: a.http_status,
        providerMessageId: a.provider_message_id,
        errorClass: a.error_class,
        detail: a.detail,
        responseExcerpt: a.response_excerpt,
        providerFault: a.provider_fault as ProviderFault | null,
        providerErrors: a.provider_errors
          ? ((readJson(a.provider_errors) ?? null) as ProviderError[] | null)
          : null,
        rateLimit: a.rate_limit ? ((readJson(a.rate_limit) ?? null) as RateLimitInfo | null) : null,
        networkError: a.network_error,
      }),
    ),
  };
}
