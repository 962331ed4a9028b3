import type { WebhookDelivery } from '../../domain/ports/status-webhook-store.ts';
import { type DeliveryStatus, statusOfEvent } from '../../domain/recipient-state.ts';
import { type Html, html } from '../html.ts';

// The console's words for delivery events, suppressions and status webhooks: one wording for
// each on every page, with the provider's or the API's own name beside it where that differs.

/** What the recipient did, for the events that change no delivery status (engagement). */
const ENGAGEMENT_WORDS: Record<string, string> = {
  open: 'opened',
  click: 'clicked',
  spamreport: 'reported as spam',
  unsubscribe: 'unsubscribed',
  group_unsubscribe: 'unsubscribed from the group',
  group_resubscribe: 'resubscribed to the group',
};

/**
 * A delivery event in the console's words: an event that sets a delivery status is named by
 * that status, as the recipients' table, the search's `event:`, the overview and the API's
 * `delivery_status` name it (`processed` is `accepted`, `bounce` is `bounced`, or `blocked` for
 * SendGrid's `bounce` of `type: "blocked"`); an engagement event by what the recipient did
 * (`open` is `opened`). `raw` is the provider's own name where it differs (`bounce`, `bounce of
 * type blocked`), for whoever reads the payload or the provider's documentation.
 */
export function eventWords(e: { event: string; payload: Record<string, unknown> }): {
  words: string;
  status: DeliveryStatus | null;
  raw: string | null;
} {
  const type = typeof e.payload.type === 'string' ? e.payload.type : null;
  const status = statusOfEvent(e.event, type);
  const words = status ?? ENGAGEMENT_WORDS[e.event] ?? e.event;
  const raw = status === 'blocked' ? `${e.event} of type ${type}` : e.event;
  return { words, status, raw: raw === words ? null : raw };
}

/** A suppression's reason in the words the message pages use for the event behind it. */
const SUPPRESSION_REASON_WORDS: Record<string, string> = {
  bounce: 'bounced',
  blocked: 'blocked',
  spamreport: 'reported as spam',
  unsubscribe: 'unsubscribed',
  manual: 'added by hand',
};

export function suppressionReasonText(reason: string): string {
  return SUPPRESSION_REASON_WORDS[reason] ?? reason;
}

/** The reason as `suppressionReasonText` says it, with the API's value (`bounce`) on hover. */
export function suppressionReasonWords(reason: string): Html | string {
  const words = suppressionReasonText(reason);
  return words === reason ? reason : html`<span title="${reason}">${words}</span>`;
}

/** Where a suppression came from: a delivery event (a bounce, a report), or someone's hand. */
export function suppressionSourceText(source: string): string {
  if (source === 'event') return 'delivery event';
  if (source === 'api') return 'API or console';
  return source;
}

/**
 * What the receiver last answered a status webhook, once: the error of a refused post already
 * starts with its status ("HTTP 500: receiver down"), so the status is not said twice. A post
 * that got no HTTP answer has its error alone ("connect ECONNREFUSED …"); one not posted yet,
 * nothing.
 */
export function lastAnswer(d: Pick<WebhookDelivery, 'lastStatus' | 'lastError'>): string {
  const status = d.lastStatus === null ? null : `HTTP ${d.lastStatus}`;
  if (d.lastError === null) return status ?? '';
  if (status === null || d.lastError.startsWith(status)) return d.lastError;
  return `${status}; ${d.lastError}`;
}
