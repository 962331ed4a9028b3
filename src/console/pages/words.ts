import { actorText } from '../../domain/actor-words.ts';
import { auditTargetText } from '../../domain/audit-words.ts';
import { count } from '../../domain/count-words.ts';
import type { AuditNames } from '../../domain/operations/audit.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { Actor } from '../../domain/operations/scope.ts';
import type { WebhookDelivery } from '../../domain/ports/status-webhook-store.ts';
import { type DeliveryStatus, statusOfEvent } from '../../domain/recipient-state.ts';
import {
  type ForwardedTemplate,
  forwardedTemplate,
} from '../../domain/sendgrid-compat/forwarded-template.ts';
import type { MessageContent, SendOutcome } from '../../domain/types.ts';
import { type Html, html, time } from '../html.ts';

// The console's words for delivery events, attempts, suppressions, status webhooks and who did
// what: one wording for each on every page, with the provider's or the API's own name beside it
// where that differs.

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

/**
 * What came after an attempt: another attempt (`tried again`), none yet while the message still
 * goes out by itself (`due`: queued, scheduled, sending), or none (`done`: sent, given up on,
 * cancelled).
 */
export type AfterAttempt = 'tried again' | 'due' | 'done';

/**
 * An attempt's outcome in words a support agent can repeat: `accepted` is the provider taking
 * the mail, `retryable` a failure Tegami tries again by itself, `permanent` one it does not (only
 * an operator's retry sends it again), `unknown` a request that went out and got no answer (the
 * provider may have taken the mail). What came after says whether a retryable failure was tried
 * again, will be, or was not any more (retries used up, or cancelled).
 */
export function attemptOutcomeText(outcome: SendOutcome, after: AfterAttempt): string {
  switch (outcome) {
    case 'accepted':
      return 'taken by the provider';
    case 'retryable':
      return after === 'tried again'
        ? 'failed, tried again'
        : after === 'due'
          ? 'failed, will retry'
          : 'failed, no more retries';
    case 'permanent':
      return after === 'tried again' ? 'failed for good, then retried by hand' : 'failed for good';
    case 'unknown':
      return 'no answer: may have been sent';
  }
  return outcome;
}

/**
 * The outcome in words, and beside them, muted, the API's word for it (`retryable`, as the
 * attempts of `GET /v1/messages/{id}` and the architecture name it) with the provider's HTTP
 * status when it answered one.
 */
export function attemptOutcomeWords(
  outcome: SendOutcome,
  after: AfterAttempt,
  httpStatus: number | null | undefined,
): Html {
  return html`<span class="outcome">${attemptOutcomeText(outcome, after)}</span> <span class="muted raw-word">(<code>${outcome}</code>${httpStatus ? `, HTTP ${httpStatus}` : ''})</span>`;
}

/**
 * A status webhook's state, posts and last answer, as the endpoints' logs and a message's timeline
 * say them. An error says when it was (`last error at <time>: HTTP 500: …`), unless it was
 * recorded before that time was kept. One posted again by hand (`redeliver`) is not merely
 * `pending` with 0 posts: it says when it was queued again, counts its posts from then, and keeps
 * the receiver's answer from before as what it was, with its own time, until the next post
 * replaces it.
 */
export function webhookProgress(
  d: Pick<
    WebhookDelivery,
    'status' | 'attempts' | 'requeuedAt' | 'lastStatus' | 'lastError' | 'lastErrorAt'
  >,
): { state: Html | string; posts: string; answer: Html | string } {
  const answer = lastAnswer(d);
  const errorAt = d.lastError !== null && d.lastErrorAt !== null ? d.lastErrorAt : null;
  const timed = errorAt === null ? answer : html`last error at ${time(errorAt)}: ${answer}`;
  if (d.requeuedAt === null) {
    return { state: d.status, posts: count(d.attempts, 'post'), answer: timed };
  }
  return {
    state:
      d.status === 'pending'
        ? html`pending: <span class="requeued">queued again ${time(d.requeuedAt)}</span>`
        : html`${d.status} <span class="requeued">after being queued again ${time(d.requeuedAt)}</span>`,
    posts: `${count(d.attempts, 'post')} since then`,
    answer:
      d.attempts === 0 && answer !== ''
        ? html`<span class="earlier-answer">last error${errorAt === null ? '' : html` at ${time(errorAt)}`}, before it was queued again: ${answer}</span>`
        : timed,
  };
}

/**
 * The actor as `actorText` (src/domain/actor-words.ts) says it: the name, then what it is (muted);
 * its id on hover.
 */
export function actorWords(actor: Actor): Html {
  const { name, kind } = actorText(actor);
  return html`<span class="actor" title="${actor.type} ${actor.id}">${name}</span> <span class="muted actor-kind">· ${kind}</span>`;
}

// --- what a refused form says -------------------------------------------------------------

/**
 * Numbers grouped as the console writes counts (2592000 is 2,592,000; 2048 is 2,048), leaving
 * alone digits that are part of a date, a time or a version (2026-12-01, 15:00, 1.10000).
 */
function groupDigits(text: string): string {
  return text.replace(/(?<![\w.,:-])[0-9]{4,15}(?![\w,:-]|\.\w)/g, (digits) =>
    Number(digits).toLocaleString('en'),
  );
}

/**
 * A problem the domain found with a field it names as the API does (`alerts.delay_s`,
 * `password`), in the words of the console's form that sent it: the field's label as the form
 * shows it, then what is wrong, its large numbers grouped (“Delay alert after (s)” must be a
 * whole number from 1 to 2,592,000.). A field the form has no label for is named by its last
 * part, without the API's path.
 */
export function fieldProblemText(
  labels: Readonly<Record<string, string>>,
  field: string,
  problem: string,
): string {
  const label = labels[field] ?? (field.split('.').pop() ?? field).replaceAll('_', ' ');
  const said = `“${label}” ${groupDigits(problem.trim())}`;
  return said.endsWith('.') ? said : `${said}.`;
}

/**
 * Why a whole number typed in a form is refused, or null when it is taken: text that is no whole
 * number ("soon", "1.5", "-1") is said to be none, and one out of the field's range (0 seconds,
 * or 99999999999999999999, a whole number all the same) to be out of it, with the range.
 * `of`: what is counted ("seconds"); `note`: the range in other words ("30 days").
 */
export function wholeNumberProblem(
  label: string,
  value: string,
  range: { min: number; max: number; of?: string; note?: string },
): string | null {
  const wanted = `a whole number${range.of ? ` of ${range.of}` : ''} from ${range.min.toLocaleString('en')} to ${range.max.toLocaleString('en')}${range.note ? ` (${range.note})` : ''}`;
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  if (!/^[0-9]+$/.test(value)) return `“${label}” must be ${wanted}: “${shown}” is not one.`;
  const n = Number(value);
  if (n < range.min) return `“${label}” must be ${wanted}: ${shown} is less.`;
  if (n > range.max) return `“${label}” must be ${wanted}: ${shown} is more.`;
  return null;
}

/** Choices as a person lists them: "admin, operator or viewer". */
export function eitherOf(choices: readonly string[]): string {
  if (choices.length <= 1) return choices.join('');
  return `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}

/**
 * An audit event's target as `auditTargetText` (src/domain/audit-words.ts) says it: a key, a unit
 * or a console user by name, its id on hover; anything else (a message, an address) as recorded.
 */
export function targetWords(event: AuditEvent, names: AuditNames): Html | string {
  const target = auditTargetText(event, names);
  if (target === null) return '';
  if (target.text === event.target) return html`<code>${event.target}</code>`;
  return html`<span class="target" title="${event.target}">${target.text}</span>`;
}

/**
 * A message's subject as the lists show it. A request forwarded to SendGrid with a template and
 * no subject of its own takes its subject from the template, at SendGrid: it is named by its
 * template instead of "(no subject)", so whoever looks a guest up does not take it for empty mail.
 */
export function subjectText(content: MessageContent): string {
  return content.subject || templateSubject(content) || '(no subject)';
}

/**
 * `(SendGrid template d-…)`, the name of mail SendGrid renders from a template where its subject
 * would be, for a message with none of its own; null for any other message.
 */
export function templateSubject(content: MessageContent): string | null {
  if (content.subject) return null;
  const template = forwardedTemplate(content);
  return template ? `(SendGrid template ${template.id})` : null;
}

/**
 * How many of a template's data keys the message page names: a request may give each of its
 * 1,000 personalizations keys of its own, and a line of them stays readable at a few dozen.
 */
const TEMPLATE_DATA_KEYS_SHOWN = 30;

/**
 * What the message page says of mail SendGrid renders from a template: which template, and the
 * keys of the data the template was given (not their values: they are in the request, and what
 * the guest read is SendGrid's to show).
 */
export function templateWords(template: ForwardedTemplate): Html {
  const keys = template.dataKeys;
  const shown = keys.slice(0, TEMPLATE_DATA_KEYS_SHOWN);
  return html`<p id="sendgrid-template" role="note">Rendered by SendGrid from ${template.kind} template <code>${template.id}</code>; Tegami does not hold the rendered text.</p>
${keys.length > 0 ? html`<p class="muted" id="template-data-keys">Template data (dynamic_template_data) keys: ${shown.map((k, i) => html`${i > 0 ? ', ' : ''}<code>${k}</code>`)}${keys.length > shown.length ? ` and ${count(keys.length - shown.length, 'more', 'more')}` : ''}.</p>` : ''}`;
}
