import type { Insertable, Kysely } from 'kysely';
import { DEFAULT_UNIT_NAME } from '../../domain/operations/units.ts';
import type { Submission, SubmissionOutcome } from '../../domain/ports/message-store.ts';
import { recipientAddresses } from '../../domain/suppression.ts';
import type { DatabaseHandle, Dialect } from '../engine/handle.ts';
import type { Database, MessageTable, RecipientTable } from '../schema.ts';
import { findSuppressed } from '../suppressions/find-suppressed.ts';
import { insertion } from '../write/insert-rows.ts';
import { toMessageRows } from './rows.ts';

/**
 * Writes a group of submissions (one group commit, see write/commit-group.ts). A group without
 * idempotency keys is a single statement where the dialect makes it one (PostgreSQL), atomic by
 * itself: no BEGIN and COMMIT round trips around it.
 */
export function submitGroup(
  handle: DatabaseHandle,
  group: Submission[],
): Promise<SubmissionOutcome[]> {
  const { dialect } = handle;
  return dialect.multiTableInsertIsOneStatement && !group.some((s) => s.idempotency)
    ? writeSubmissions(handle.db, dialect, group)
    : handle.writeTransaction((trx) => writeSubmissions(trx, dialect, group));
}

async function writeSubmissions(
  trx: Kysely<Database>,
  dialect: Dialect,
  group: Submission[],
): Promise<SubmissionOutcome[]> {
  const outcomes: SubmissionOutcome[] = [];
  const messages: Insertable<MessageTable>[] = [];
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

  const suppressed = await leasedWithSuppressedRecipients(trx, group);

  // Checked inside the write transaction, so two concurrent requests with the same key cannot
  // both be stored, even from two API processes: the second waits for the first's lock until it
  // commits, then finds its row. (On SQLite the write lock already serialises them.) Every key of
  // the group is locked first, in one order: groups of two processes that share keys would
  // otherwise take them in their own orders and deadlock.
  const scopedKeys = group.flatMap((s) =>
    s.idempotency ? [`${s.idempotency.apiKeyId}\n${s.idempotency.key}`] : [],
  );
  for (const scoped of [...new Set(scopedKeys)].sort()) {
    await dialect.advisoryXactLock(trx, scoped);
  }

  for (const submission of group) {
    const claim = submission.idempotency;
    if (claim) {
      const scoped = `${claim.apiKeyId}\n${claim.key}`;
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

    const leased: { id: string; unitId: string }[] = [];
    for (const submitted of submission.messages) {
      const message = suppressed.has(submitted.id) ? { ...submitted, lease: undefined } : submitted;
      const unitId = message.unitId ?? (defaultUnitId as string);
      if (message.lease) leased.push({ id: message.id, unitId });
      const rows = toMessageRows(message, unitId);
      messages.push(rows.message);
      recipients.push(...rows.recipients);
      categories.push(...rows.categories);
      metadata.push(...rows.metadata);
    }
    outcomes.push(leased.length > 0 ? { kind: 'stored', leased } : { kind: 'stored' });
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

/**
 * The leased messages (handed to the worker at once) with a recipient on the suppression list:
 * they are written without their lease and queue, so the claim leaves those recipients out or
 * dead-letters the message (store/delivery/apply-suppressions.ts), as for any other message.
 */
async function leasedWithSuppressedRecipients(
  db: Kysely<Database>,
  group: Submission[],
): Promise<Set<string>> {
  const ids = new Set<string>();
  const leased = group.flatMap((s) => s.messages.filter((m) => m.lease));
  if (leased.length === 0) return ids;
  const suppressions = await findSuppressed(db, [
    ...new Set(leased.flatMap((m) => recipientAddresses(m.content))),
  ]);
  if (suppressions.size === 0) return ids;
  for (const m of leased) {
    if (recipientAddresses(m.content).some((email) => suppressions.has(email))) ids.add(m.id);
  }
  return ids;
}
