import { type MessageQuery, parseMessageQuery } from '../domain/operations/message-query.ts';
import type { FieldError } from '../domain/validate-message.ts';

/**
 * The message filters as command-line flags, read into the same MessageQuery the API uses (and
 * checked by the same rules), so `tegami recover` matches what `POST /v1/recoveries` would.
 */
export const FILTER_OPTIONS = {
  status: { type: 'string' },
  reason: { type: 'string' },
  unit: { type: 'string' },
  recipient: { type: 'string' },
  'recipient-name': { type: 'string' },
  'recipient-text': { type: 'string' },
  category: { type: 'string' },
  metadata: { type: 'string', multiple: true },
  provider: { type: 'string' },
  'error-class': { type: 'string' },
  'delivery-status': { type: 'string' },
  subject: { type: 'string' },
  'provider-message-id': { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const;

export const FILTER_HELP = `Filters (all optional, combined with AND):
  --status S            queued, scheduled, sending, sent, failed or cancelled
  --reason R            unsent reason: waiting, requeued, retrying, held, unknown_outcome,
                        failed, unconfirmed
  --unit U              a unit's name
  --recipient R         an address, or @domain for every address at a domain
  --recipient-name N    text in a recipient's display name, any case (on SQLite, of
                        ASCII letters only)
  --recipient-text T    text anywhere in a recipient's address or display name, any
                        case (on SQLite, of ASCII letters only)
  --category C          a category
  --metadata K=V        a metadata pair (repeatable)
  --provider P          the provider of the last attempt
  --error-class E       the error class of the last attempt, e.g. http_400
  --delivery-status D   delivered, bounced, deferred, dropped, blocked, accepted or none
  --subject WORDS       words that must all be in the subject
  --provider-message-id ID
                        a provider's id for the message (SendGrid's X-Message-Id, or an
                        event's sg_message_id), or the X-Message-Id answered to
                        /v3/mail/send
  --since T, --until T  ISO 8601 times (UTC without a zone, e.g. 2026-12-01T14:00): when it
                        was dead-lettered with --status failed or --reason failed, else when
                        it was created`;

type FilterValues = {
  [K in keyof typeof FILTER_OPTIONS]?: K extends 'metadata' ? string[] : string;
};

/** The query the flags describe, or what is wrong with them (named by flag). */
export function queryFromFlags(values: FilterValues): {
  query: MessageQuery;
  errors: FieldError[];
} {
  const failedTime = values.status === 'failed' || values.reason === 'failed';
  const input: Record<string, unknown> = {
    status: values.status,
    reason: values.reason,
    unit: values.unit,
    recipient: values.recipient,
    recipient_name: values['recipient-name'],
    recipient_text: values['recipient-text'],
    category: values.category,
    metadata: values.metadata,
    provider: values.provider,
    error_class: values['error-class'],
    delivery_status: values['delivery-status'],
    subject: values.subject,
    provider_message_id: values['provider-message-id'],
    [failedTime ? 'failed_after' : 'created_after']: values.since,
    [failedTime ? 'failed_before' : 'created_before']: values.until,
  };
  for (const key of Object.keys(input)) if (input[key] === undefined) delete input[key];
  const { query, errors } = parseMessageQuery(input, { fieldPrefix: '', allowReason: true });
  const flag: Record<string, string> = {
    error_class: '--error-class',
    delivery_status: '--delivery-status',
    recipient_name: '--recipient-name',
    recipient_text: '--recipient-text',
    provider_message_id: '--provider-message-id',
    failed_after: '--since',
    created_after: '--since',
    failed_before: '--until',
    created_before: '--until',
  };
  return {
    query,
    errors: errors.map((e) => ({ field: flag[e.field] ?? `--${e.field}`, message: e.message })),
  };
}
