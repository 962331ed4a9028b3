import type { MessageRecord } from '../domain/types.ts';
import type { TimelineEntry } from '../store/sql-delivery-event-store.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function decodedSize(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.floor((base64.length * 3) / 4) - padding;
}

const text = (value: unknown) => (typeof value === 'string' ? value : null);

/** Why the provider holds due mail right now (see `holdReason`), and when that was looked up. */
export interface Hold {
  reason: string | null;
  now: number;
}

/** A message the provider would take now if it could: queued, or scheduled and due. */
function isDue(record: MessageRecord, now: number): boolean {
  return (
    record.status === 'queued' ||
    (record.status === 'scheduled' && (record.sendAt === null || record.sendAt <= now))
  );
}

/**
 * A message as the API shows it: snake_case fields, ISO 8601 times, attachments without content.
 * With `timeline`, each recipient carries its delivery events, oldest first. With `hold`, a due
 * message says why it is held (`held_reason`).
 */
export function presentMessage(
  record: MessageRecord,
  withAttempts: boolean,
  timeline?: TimelineEntry[],
  hold?: Hold,
) {
  const { content } = record;
  return {
    id: record.id,
    status: record.status,
    from: content.from,
    ...(content.reply_to ? { reply_to: content.reply_to } : {}),
    subject: content.subject,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    headers: content.headers,
    categories: content.categories,
    metadata: content.metadata,
    attachments: content.attachments.map((a) => ({
      filename: a.filename,
      content_type: a.content_type,
      size: decodedSize(a.content),
    })),
    recipients: record.recipients.map((r) => ({
      email: r.email,
      ...(r.name !== undefined ? { name: r.name } : {}),
      type: r.kind,
      status: r.status,
      suppressed_reason: r.suppressedReason ?? null,
      delivery_status: r.deliveryStatus ?? null,
      delivery_status_at: iso(r.deliveryStatusAt ?? null),
      ...(timeline
        ? {
            events: timeline
              .filter((e) => e.email === r.email.toLowerCase())
              .map((e) => ({
                event: e.event,
                occurred_at: iso(e.occurredAt) as string,
                received_at: iso(e.receivedAt) as string,
                detail: text(e.payload.reason) ?? text(e.payload.response) ?? text(e.payload.url),
                payload: e.payload,
              })),
          }
        : {}),
    })),
    send_at: iso(record.sendAt),
    created_at: iso(record.createdAt) as string,
    updated_at: iso(record.updatedAt) as string,
    attempt_count: record.attemptCount,
    next_attempt_at: iso(record.nextAttemptAt),
    sent_at: iso(record.sentAt),
    last_error: record.lastError,
    held_reason: hold && isDue(record, hold.now) ? hold.reason : null,
    ...(withAttempts
      ? {
          attempts: record.attempts.map((a) => ({
            number: a.number,
            provider: a.provider,
            started_at: iso(a.startedAt) as string,
            duration_ms: a.durationMs,
            outcome: a.outcome,
            http_status: a.httpStatus,
            provider_message_id: a.providerMessageId,
            error_class: a.errorClass,
            detail: a.detail,
            response_excerpt: a.responseExcerpt,
            provider_fault: a.providerFault,
            provider_errors:
              a.providerErrors?.map((e) => ({
                message: e.message,
                field: e.field ?? null,
                help: e.help ?? null,
              })) ?? null,
            rate_limit: a.rateLimit,
            network_error: a.networkError,
          })),
        }
      : {}),
  };
}
