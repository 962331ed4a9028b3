import { MAX_EVENT_DEPTH, nestedDeeperThan } from '../../domain/delivery-event-limits.ts';
import type { RecentEvents, TimelineEntry } from '../../domain/ports/delivery-event-store.ts';
import { forwardedTemplate } from '../../domain/sendgrid-compat/forwarded-template.ts';
import type { AttachmentDisposition, MessageRecord } from '../../domain/types.ts';
import {
  integer,
  integerOrNull,
  isoTime,
  isoTimeOrNull,
  isPlainObject,
  objectArray,
  stringArray,
  stringMap,
  text,
  textOrNull,
} from './values.ts';

function decodedSize(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((base64.length * 3) / 4) - padding);
}

function address(value: unknown): { email: string; name?: string } | null {
  if (!isPlainObject(value)) return null;
  const name = textOrNull(value.name);
  return { email: text(value.email), ...(name !== null ? { name } : {}) };
}

/**
 * A number field of a stored JSON object (rate-limit headers): kept only when finite, so the
 * answer stays valid JSON.
 */
function finiteFields(value: unknown, keys: readonly string[]): Record<string, number> | null {
  if (!isPlainObject(value)) return null;
  const out: Record<string, number> = {};
  for (const key of keys) {
    const n = value[key];
    if (typeof n === 'number' && Number.isFinite(n)) out[key] = n;
  }
  return out;
}

/** A stored event as shown: an object, or an empty one if what is stored is not (or too deep). */
function eventPayload(value: unknown): Record<string, unknown> {
  return isPlainObject(value) && !nestedDeeperThan(value, MAX_EVENT_DEPTH) ? value : {};
}

/** A delivery event as the API shows it. */
export function presentEvent(e: TimelineEntry) {
  const payload = eventPayload(e.payload);
  return {
    event: text(e.event),
    occurred_at: isoTime(e.occurredAt),
    received_at: isoTime(e.receivedAt),
    detail: textOrNull(payload.reason) ?? textOrNull(payload.response) ?? textOrNull(payload.url),
    payload,
  };
}

/** A recipient's newest events, and whether older ones were left out. */
function recipientEvents(group: { events: TimelineEntry[]; total: number } | undefined) {
  const { events, total } = group ?? { events: [], total: 0 };
  return {
    events: events.map(presentEvent),
    events_total: total,
    events_truncated: total > events.length,
  };
}

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
 * With `events`, each recipient carries its newest delivery events, oldest first, and how many it
 * has; the events whose address is no recipient's are shown beside them, labelled so. With
 * `hold`, a due message says why it is held (`held_reason`).
 *
 * Every stored value is read defensively (see values.ts): a row edited by hand or an
 * event time out of range shows as null or an empty value, never as a 500 for the message or for
 * every list page that contains it.
 */
export function presentMessage(
  record: MessageRecord,
  withAttempts: boolean,
  events?: RecentEvents,
  hold?: Hold,
) {
  const content: Record<string, unknown> = isPlainObject(record.content) ? record.content : {};
  const replyTo = address(content.reply_to);
  const bodyText = textOrNull(content.text);
  const bodyHtml = textOrNull(content.html);
  const sendgrid = sendGridOrigin(content);
  return {
    id: text(record.id),
    status: text(record.status),
    unit: text(record.unit),
    priority: record.priority,
    from: address(content.from) ?? { email: '' },
    ...(replyTo ? { reply_to: replyTo } : {}),
    subject: text(content.subject),
    ...(bodyText !== null ? { text: bodyText } : {}),
    ...(bodyHtml !== null ? { html: bodyHtml } : {}),
    headers: stringMap(content.headers),
    categories: stringArray(content.categories),
    metadata: stringMap(content.metadata),
    attachments: [
      ...objectArray(content.attachments).map((a) => ({
        filename: text(a.filename),
        content_type: text(a.content_type),
        size: decodedSize(text(a.content)),
        ...inlineFields(a),
      })),
      // A forwarded SendGrid request keeps its attachments in the request alone.
      ...forwardedAttachments(content.sendgrid).map((a) => ({
        filename: text(a.filename),
        content_type: textOrNull(a.type) ?? 'application/octet-stream',
        size: decodedSize(text(a.content).replace(/\r?\n/g, '')),
        ...inlineFields(a),
      })),
    ],
    recipients: record.recipients.map((r) => {
      const email = text(r.email);
      const name = textOrNull(r.name);
      return {
        email,
        ...(name !== null ? { name } : {}),
        type: text(r.kind),
        status: text(r.status),
        suppressed_reason: textOrNull(r.suppressedReason),
        delivery_status: textOrNull(r.deliveryStatus),
        delivery_status_at: isoTimeOrNull(r.deliveryStatusAt),
        ...(events ? recipientEvents(events.recipients.get(email.toLowerCase())) : {}),
      };
    }),
    send_at: isoTimeOrNull(record.sendAt),
    created_at: isoTime(record.createdAt),
    updated_at: isoTime(record.updatedAt),
    attempt_count: integer(record.attemptCount),
    next_attempt_at: isoTimeOrNull(record.nextAttemptAt),
    sent_at: isoTimeOrNull(record.sentAt),
    last_error: textOrNull(record.lastError),
    held_reason: hold && isDue(record, hold.now) ? hold.reason : null,
    ...(events
      ? {
          unmatched_recipient_events: events.others.events.map((e) => ({
            email: text(e.email),
            ...presentEvent(e),
          })),
          unmatched_recipient_events_total: events.others.total,
          unmatched_recipient_events_truncated: events.others.total > events.others.events.length,
        }
      : {}),
    ...(withAttempts
      ? {
          attempts: record.attempts.map((a) => ({
            number: integer(a.number),
            provider: text(a.provider),
            started_at: isoTime(a.startedAt),
            duration_ms: integer(a.durationMs),
            outcome: text(a.outcome),
            http_status: integerOrNull(a.httpStatus),
            provider_message_id: textOrNull(a.providerMessageId),
            error_class: textOrNull(a.errorClass),
            detail: textOrNull(a.detail),
            response_excerpt: textOrNull(a.responseExcerpt),
            provider_fault: textOrNull(a.providerFault),
            provider_errors: Array.isArray(a.providerErrors)
              ? objectArray(a.providerErrors).map((e) => ({
                  message: text(e.message),
                  field: textOrNull(e.field),
                  help: textOrNull(e.help),
                }))
              : null,
            rate_limit: finiteFields(a.rateLimit, ['limit', 'remaining', 'reset']),
            network_error: textOrNull(a.networkError),
          })),
        }
      : {}),
    ...(sendgrid ? { sendgrid } : {}),
  };
}

/**
 * An attachment's disposition, `attachment` unless it says `inline` (one stored before inline
 * attachments existed has none), and its content ID when it has one. The native form and
 * SendGrid's name both fields alike.
 */
function inlineFields(a: Record<string, unknown>) {
  const contentId = textOrNull(a.content_id);
  const disposition: AttachmentDisposition = a.disposition === 'inline' ? 'inline' : 'attachment';
  return {
    disposition,
    ...(contentId !== null ? { content_id: contentId } : {}),
  };
}

function forwardedAttachments(origin: unknown): Record<string, unknown>[] {
  if (!isPlainObject(origin) || !isPlainObject(origin.request)) return [];
  return objectArray(origin.request.attachments);
}

/** Where mail that came in through `POST /v3/mail/send` came from; null for any other. */
function sendGridOrigin(content: Record<string, unknown>) {
  const value = content.sendgrid;
  if (!isPlainObject(value)) return null;
  const xMessageId = textOrNull(value.xMessageId);
  if (xMessageId === null) return null;
  const personalization = value.personalization;
  const template = forwardedTemplate(content);
  return {
    x_message_id: xMessageId,
    ...(Number.isInteger(personalization) ? { personalization: personalization as number } : {}),
    forwarded: isPlainObject(value.request),
    ...(template ? { template_id: template.id } : {}),
  };
}
