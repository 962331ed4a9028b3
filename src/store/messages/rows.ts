import type { Insertable, Selectable } from 'kysely';
import type { Submission } from '../../domain/ports/message-store.ts';
import { DEFAULT_PRIORITY, PRIORITY_RANK, priorityOfRank } from '../../domain/priority.ts';
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
} from '../../domain/types.ts';
import { reportedRecipientStatus } from '../../domain/types.ts';
import { readJson } from '../engine/read-json.ts';
import type { AttemptTable, Database, MessageTable, RecipientTable } from '../schema.ts';

/** A submitted message as the rows that store it. */
export interface MessageRows {
  message: Insertable<MessageTable>;
  recipients: Insertable<RecipientTable>[];
  categories: Database['message_categories'][];
  metadata: Database['message_metadata'][];
}

export function toMessageRows(
  message: Submission['messages'][number],
  unitId: string,
): MessageRows {
  const { content } = message;
  const recipients: Insertable<RecipientTable>[] = [];
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
  const { lease } = message;
  return {
    message: {
      id: message.id,
      api_key_id: message.apiKeyId,
      unit_id: unitId,
      status: lease ? 'sending' : message.sendAt === null ? 'queued' : 'scheduled',
      from_email: content.from.email,
      subject: content.subject,
      content: JSON.stringify(content),
      send_at: message.sendAt,
      created_at: message.createdAt,
      updated_at: message.createdAt,
      // Leased: as a claim would have left it (claim-due.ts), its first attempt under way.
      attempt_count: lease ? 1 : 0,
      attempts_before_retry: 0,
      next_attempt_at: lease ? lease.expiresAt : (message.sendAt ?? message.createdAt),
      lease_owner: lease?.owner ?? null,
      lease_expires_at: lease?.expiresAt ?? null,
      sent_at: null,
      last_error: null,
      last_provider: null,
      last_error_class: null,
      last_outcome: null,
      last_provider_fault: null,
      failed_at: null,
      confirmed_at: null,
      priority: PRIORITY_RANK[message.priority ?? DEFAULT_PRIORITY],
      x_message_id: content.sendgrid?.xMessageId ?? null,
    },
    recipients,
    categories: content.categories.map((category) => ({ message_id: message.id, category })),
    metadata: Object.entries(content.metadata).map(([key, value]) => ({
      message_id: message.id,
      key,
      value,
    })),
  };
}

export function toMessageRecord(
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
    priority: priorityOfRank(Number(row.priority)),
    lastProvider: row.last_provider ?? null,
    lastErrorClass: row.last_error_class ?? null,
    lastOutcome: row.last_outcome ?? null,
    lastProviderFault: row.last_provider_fault ?? null,
    failedAt: row.failed_at ?? null,
    // Read defensively: the API shows a row it cannot parse instead of failing (present-message.ts).
    content: readJson(row.content) as MessageContent,
    recipients: recipients.map((r): Recipient => {
      const status = reportedRecipientStatus(
        row.status as MessageStatus,
        r.status as RecipientStatus,
      );
      return {
        email: r.email,
        ...(r.name === null ? {} : { name: r.name }),
        kind: r.kind as RecipientKind,
        status,
        deliveryStatus: r.delivery_status ?? null,
        deliveryStatusAt: r.delivery_status_at ?? null,
        // A reason left from an earlier attempt does not hold while the message is sent again.
        suppressedReason: status === 'suppressed' ? (r.suppressed_reason ?? null) : null,
      };
    }),
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
