import { count } from '../../domain/count-words.ts';
import type { TimelineEntry } from '../../domain/ports/delivery-event-store.ts';
import { statusOfEvent } from '../../domain/recipient-state.ts';
import { type MessageRecord, type Recipient, SUPPRESSED_ERROR_CLASS } from '../../domain/types.ts';
import { type Html, html, qs, time } from '../html.ts';
import { suppressionReasonText } from './words.ts';

/** Recipients told of one by one; the recipients' table below the summary has them all. */
const RECIPIENTS_TOLD = 10;

/**
 * The delivery status an event stands for, by the rule ingest stores it with (a SendGrid block is
 * a `bounce` of `type: "blocked"`, which is no bounce: the address exists); an event that sets no
 * status (an open, a click) stands for itself.
 */
function eventStatus(e: { event: string; payload: Record<string, unknown> }): string {
  const bounceType = typeof e.payload.type === 'string' ? e.payload.type : null;
  return statusOfEvent(e.event, bounceType) ?? e.event;
}

/** The provider's own words about an event (a bounce's reason, a deferral's answer), as the API's `detail`. */
export function eventDetail(payload: Record<string, unknown>): string | null {
  for (const key of ['reason', 'response', 'url']) {
    const value = payload[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return null;
}

function providerName(r: MessageRecord): string {
  if (r.lastProvider === 'sendgrid') return 'SendGrid';
  return r.lastProvider ? `the provider (${r.lastProvider})` : 'the provider';
}

/** The provider's words, quoted, after the plain ones: what a guest's mail admin would ask for. */
function quoted(detail: string | null): Html | '' {
  return detail ? html` (“${detail}”)` : '';
}

function suppressionLink(email: string, words: string): Html {
  return html`<a href="/console/suppressions${qs({ email })}">${words}</a>`;
}

/** One recipient of a message the provider took: what its mail server said, for a guest. */
function recipientLine(
  r: MessageRecord,
  x: Recipient,
  events: TimelineEntry[],
  eventsExpected: boolean,
): Html {
  const provider = providerName(r);
  const latest = (status: string) => {
    const found = events.filter((e) => eventStatus(e) === status);
    return found.length > 0 ? (found[found.length - 1] as TimelineEntry) : null;
  };
  const detail = (status: string) => {
    const e = latest(status);
    return e ? eventDetail(e.payload) : null;
  };
  if (x.status === 'suppressed') {
    return html`<strong>Not sent</strong> to ${x.email}: the address is ${suppressionLink(x.email, 'on the suppression list')}${x.suppressedReason ? html` (${suppressionReasonText(x.suppressedReason)})` : ''}, after an earlier mail to it bounced or the guest reported spam or unsubscribed. Check the address with the guest.`;
  }
  if (x.status !== 'sent') return html`<strong>Not sent</strong> to ${x.email}.`;
  // A copy (cc, bcc) may go to the hotel itself: "the guest" is the one it is addressed to.
  const whose = x.kind === 'to' ? "the guest's" : "the recipient's";
  const at = x.deliveryStatusAt ? html` at ${time(x.deliveryStatusAt)}` : '';
  switch (x.deliveryStatus) {
    case 'delivered': {
      const opened = latest('open') ?? latest('click');
      const spam = latest('spamreport');
      return html`<strong>Delivered</strong> to ${x.email}${at}: ${whose} mail server accepted it. ${
        opened
          ? html`It was opened at ${time(opened.occurredAt)}. `
          : html`If the guest cannot find it, ask them to look in their spam or junk folder. `
      }${spam ? html`It was reported as spam: a report puts the address on ${suppressionLink(x.email, 'the suppression list')}, which holds later mail to it back.` : ''}`;
    }
    case 'bounced':
      return html`<strong>Not delivered</strong> (bounced) to ${x.email}: ${whose} mail server refused it${quoted(detail('bounced'))}. The address may be mistyped or no longer exist: check it with the guest. A bounce puts the address on ${suppressionLink(x.email, 'the suppression list')}, which holds later mail to it back.`;
    case 'blocked':
      return html`<strong>Not delivered</strong> (blocked) to ${x.email}: ${whose} mail server blocked it${quoted(detail('blocked'))}. A block is usually about the sender, not the address: the mail provider of the address may say why, or the guest can give another address.`;
    case 'dropped':
      return html`<strong>Not delivered</strong> (dropped) to ${x.email}: ${provider} did not send it${quoted(detail('dropped'))}, as it does for an address that bounced before, reported spam or unsubscribed. Check the address with the guest.`;
    case 'deferred':
      return html`<strong>Delayed</strong> (deferred) for ${x.email}: ${whose} mail server asked to try again later${quoted(detail('deferred'))}. ${r.lastProvider === 'sendgrid' ? 'SendGrid keeps trying for up to 72 hours' : 'The provider keeps trying'}: it may still arrive.`;
    case 'accepted':
      return html`<strong>On its way</strong> (accepted) to ${x.email}: ${provider} took it${r.sentAt ? html` at ${time(r.sentAt)}` : ''} and ${whose} mail server has not answered yet.`;
    default:
      return eventsExpected
        ? html`<strong>Handed to ${provider}</strong>${r.sentAt ? html` at ${time(r.sentAt)}` : ''} for ${x.email}; no word from ${whose} mail server yet.`
        : html`<strong>Handed to ${provider}</strong>${r.sentAt ? html` at ${time(r.sentAt)}` : ''} for ${x.email}. Whether it arrived is not tracked here: no delivery events come from the provider (no Event Webhook is set up).`;
  }
}

/**
 * What happened to a message, in words a support person can repeat to a guest on the phone:
 * whether the mail reached the guest's mail server, and if not, why and what to do. The fields,
 * recipients and timeline below hold the evidence in the provider's own terms; a `sent` status
 * alone only says that the provider took the mail, and a bounced confirmation is `sent` too.
 */
export function whatHappened(
  r: MessageRecord,
  eventsOf: (email: string) => TimelineEntry[],
  eventsExpected: boolean,
  now: number,
): Html {
  const one = (words: Html) => html`<p id="what-happened" class="summary">${words}</p>`;
  // A try that got no answer (a timeout after the request went out, as in an outage that hangs):
  // the provider may have taken the mail, so neither "the guest got nothing" nor "not sent yet"
  // can be said. The guest is asked first, before anyone sends it again by hand.
  const unanswered = r.attempts.some((a) => a.outcome === 'unknown');
  const mayHaveIt = html`a try got no answer from ${providerName(r)}, which may have taken the mail: the guest may have it`;
  const tried = r.attemptCount > 0 ? html` (tried ${count(r.attemptCount, 'time')} so far)` : '';
  switch (r.status) {
    case 'failed':
      if (unanswered) {
        return one(
          html`<strong>Perhaps sent</strong>: Tegami gave up on it, but ${mayHaveIt}. Ask the guest whether it came before anyone retries it (<em>Why not sent</em>, below).`,
        );
      }
      return one(
        r.lastErrorClass === SUPPRESSED_ERROR_CLASS
          ? html`<strong>Not sent</strong>: the guest got nothing. Every recipient's address is on the suppression list (an earlier mail bounced, or the guest reported spam or unsubscribed), so it was never handed to the provider. Check the address with the guest.`
          : html`<strong>Not sent</strong>: the guest got nothing. ${providerName(r)} refused it, or it could not be handed over before Tegami gave up (<em>Why not sent</em>, below). An operator can retry it once the cause is fixed.`,
      );
    case 'cancelled':
      return one(
        unanswered
          ? html`<strong>Cancelled</strong>, but before that ${mayHaveIt}.`
          : html`<strong>Cancelled</strong> before it was sent: the guest got nothing.`,
      );
    case 'queued':
    case 'scheduled':
    case 'sending':
      if (r.status === 'scheduled' && r.sendAt !== null && r.sendAt > now) {
        return one(html`<strong>Not sent yet</strong>: it is scheduled for ${time(r.sendAt)}.`);
      }
      return one(
        unanswered
          ? html`<strong>Perhaps sent</strong>: ${mayHaveIt} already. It is tried again by itself${eventsExpected ? ", unless the provider's delivery events show that it took it" : ''}${tried}.`
          : html`<strong>Not sent yet</strong>: it waits to be handed to the provider${tried}. Nobody needs to send it again: Tegami hands it over as soon as the provider takes mail.`,
      );
  }
  if (r.lastProvider === 'sandbox') {
    return one(
      html`<strong>Not sent to anyone</strong>: the sandbox provider keeps mail instead of sending it (TEGAMI_PROVIDER=sandbox).`,
    );
  }
  const told = r.recipients.slice(0, RECIPIENTS_TOLD);
  const lines = told.map((x) =>
    recipientLine(r, x, eventsOf(x.email.toLowerCase()), eventsExpected),
  );
  const more = r.recipients.length - told.length;
  if (lines.length === 1 && more === 0) return one(lines[0] as Html);
  return html`<ul id="what-happened" class="summary">${lines.map((l) => html`<li>${l}</li>`)}${more > 0 ? html`<li class="muted">and ${count(more, 'more recipient')}: see Recipients, below.</li>` : ''}</ul>`;
}
