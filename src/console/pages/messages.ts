import type { FastifyInstance, FastifyReply } from 'fastify';
import { count } from '../../domain/count-words.ts';
import { EVENTS_SHOWN_PER_RECIPIENT } from '../../domain/delivery-event-limits.ts';
import { decodeEventCursor, encodeEventCursor } from '../../domain/event-cursor.ts';
import type { TimelineEntry } from '../../domain/ports/delivery-event-store.ts';
import { forwardedTemplate } from '../../domain/sendgrid-compat/forwarded-template.ts';
import type { Attachment, MessageRecord } from '../../domain/types.ts';
import { isStandardBase64 } from '../../domain/validate-message.ts';
import { backLabel, backPath } from '../back.ts';
import type { ConsoleDeps } from '../deps.ts';
import { type Html, html, qs, time } from '../html.ts';
import { csrf, page } from '../layout.ts';
import { olderThanCursor } from '../page-link.ts';
import { invalidIf, refusal, refusalNotice } from '../refusal.ts';
import { addTerm, type ParsedSearch, parseSearch, searchValue } from '../search-language.ts';
import { ConsoleError, type ConsoleRequestState, type Fields, stateOf } from '../session.ts';
import { shownUrl } from '../shown-url.ts';
import { PROBED, probeNotice, providerHold } from './provider-hold.ts';
import { eventDetail, whatHappened } from './what-happened.ts';
import {
  type AfterAttempt,
  attemptOutcomeWords,
  eventWords,
  subjectText,
  suppressionReasonText,
  templateSubject,
  templateWords,
  webhookProgress,
} from './words.ts';

/** A media type of an image (validated attachments' types are tokens: no quote, no `>`). */
const IMAGE_TYPE = /^image\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/;

/**
 * The HTML with each `cid:` link to an image attachment (`<img src="cid:logo">`) turned into
 * the image itself as a `data:` URL, which the frame's Content-Security-Policy already allows:
 * the preview shows an embedded logo as mail readers do, and still fetches nothing. A link is
 * matched by its content ID as written or %-decoded (RFC 2392); the first attachment of an ID
 * wins, as in mail readers. Other links are left as they are (the frame shows no image for them).
 */
function withInlineImages(body: string, attachments: Attachment[]): string {
  const images = new Map<string, string>();
  for (const a of attachments) {
    if (a.content_id === undefined || images.has(a.content_id)) continue;
    if (!IMAGE_TYPE.test(a.content_type) || !isStandardBase64(a.content)) continue;
    images.set(a.content_id, `data:${a.content_type};base64,${a.content}`);
  }
  if (images.size === 0) return body;
  return body.replace(/\bcid:([^\s"'<>()]+)/gi, (link, id: string) => {
    let decoded = id;
    try {
      decoded = decodeURIComponent(id);
    } catch {
      // Not %-encoded text: the ID as written.
    }
    return images.get(id) ?? images.get(decoded) ?? link;
  });
}

const PAGE_SIZE = 50;
/** Delivery events per page of a message's events page. */
const EVENTS_PAGE_SIZE = 100;
const CSV_MAX_ROWS = 10_000;

/**
 * A message that is not found, and why that may be: another unit's mail is not found either (the
 * page must not tell that it exists), and finished mail is deleted after the retention period.
 */
function noMessage(id: string): string {
  return `No message with id ${id} in the units you can see. Finished mail older than the retention period (TEGAMI_RETENTION_DAYS) is deleted; search by the recipient's address to find what is kept.`;
}

/** A value that filters the search when clicked (the message page's "filter by this"). */
function filterLink(q: string, key: string, value: string | null | undefined): Html {
  if (!value) return html`<span class="muted">–</span>`;
  return html`<a class="filter" href="/console/messages${qs({ q: addTerm(q, key, value) })}" title="search ${key}:${value}">${value}</a>`;
}

/**
 * One delivery event in a timeline, in the console's words (`bounced`), with the provider's own
 * name beside them where it differs (`bounce`). An event that sets a delivery status links to
 * the search for it (`event:bounced`); an engagement event (an open) is no `event:` term. An
 * event whose address is none of the message's recipients' (a forwarder rewrote it, say) is
 * labelled so: it changes no recipient's delivery status.
 */
function eventHtml(q: string, e: TimelineEntry & { matchesRecipient: boolean }): Html {
  const detail = eventDetail(e.payload);
  const { words, status, raw } = eventWords(e);
  return html`<strong>Event ${status ? filterLink(q, 'event', status) : words}</strong>${raw ? html` <span class="muted raw-event">(the provider calls it <code>${raw}</code>)</span>` : ''} for ${e.email}${e.matchesRecipient ? '' : html` <span class="badge unmatched-recipient">not matched to a recipient</span>`}
${detail ? html`<div>${detail}</div>` : ''}
<details><summary>Payload</summary><pre>${JSON.stringify(e.payload, null, 2)}</pre></details>`;
}

function statusBadge(status: string): Html {
  return html`<span class="badge s-${status}">${status}</span>`;
}

/** The messages a search understood (`parsed` without errors) finds, newest first. */
async function search(
  deps: ConsoleDeps,
  state: ConsoleRequestState,
  parsed: ParsedSearch,
  before?: string,
  limit = PAGE_SIZE,
): Promise<MessageRecord[]> {
  if (parsed.id !== undefined) {
    const unitId = state.scope.kind === 'unit' ? state.scope.unitId : undefined;
    const one = await deps.messages.get(parsed.id, unitId);
    return one ? [one] : [];
  }
  const filter = await deps.operations.filterFor(state.scope, parsed.query);
  if (!filter) return [];
  return deps.messages.list({
    ...filter,
    ...(before ? { beforeId: before } : {}),
    limit,
  });
}

/**
 * How to go on from a search not understood. The problems name the term and what it takes; a
 * word with a colon and a value (`Re:booking`) is read as a key, and quotes make it text.
 */
const SEARCH_REFUSED = html`Nothing is listed until the search is understood: change the term in the box (the keys are listed under Search keys, below). A word with a colon and a value after it is read as a key; to search subjects for it, put it in quotes (<code>"Re:booking"</code>).`;

/**
 * An empty result says why a guest's mail may not have been found: a word without a key searches
 * subjects, and `to:` text is matched as written, while a guest's name may be stored in another
 * script (田中 for Tanaka).
 */
function noMatch(parsed: ParsedSearch, before: string | undefined): Html {
  if (before) return html`<p class="muted" role="status">No older message matches.</p>`;
  const bareWords = parsed.terms.filter((t) => t.key === '' && !t.value.includes('@'));
  const hints: Html[] = [];
  if (bareWords.length > 0) {
    // The same words as a recipient's address or name, one click away: a guest's name typed
    // as is (`John Smith`) is the commonest search at a support desk.
    const words = bareWords.filter((t) => !t.negated).map((t) => t.value);
    const rest = parsed.terms
      .filter((t) => !bareWords.includes(t))
      .map((t) => `${t.negated ? '-' : ''}${t.key ? `${t.key}:` : ''}${searchValue(t.value)}`)
      .join(' ');
    const asRecipient = words.length > 0 ? addTerm(rest, 'to', words.join(' ')) : null;
    hints.push(
      html`A word without a key (${bareWords.map((t, i) => html`${i > 0 ? ', ' : ''}<code>${t.value}</code>`)}) searches subjects, by whole words.${asRecipient ? html` <a href="/console/messages${qs({ q: asRecipient })}" id="search-recipients">Search recipients for “${words.join(' ')}” instead</a> (<code>${asRecipient}</code>).` : ''}`,
    );
  }
  if (parsed.query.recipientText !== undefined) {
    hints.push(
      html`No recipient's address or name holds <code>${parsed.query.recipientText}</code>; a name may be written in another script.`,
    );
  }
  if (hints.length === 0) return html`<p class="muted" role="status">No message matches.</p>`;
  return html`<div class="card" role="status" id="no-match"><p>No message matches. ${hints}</p>
<p>To find a guest's mail, search part of their address or name (<code>to:tanaka</code>), the whole address (<code>to:guest@example.jp</code>, any case) or its domain (<code>to:@example.jp</code>); the guest's booking number may be in the metadata (<code>meta.booking_id:B-1</code>).</p></div>`;
}

/**
 * A sent recipient without a delivery event: one may still come, or, without the Event Webhook,
 * none ever will (then whether the mail arrived is only known to the provider).
 */
function noEvent(eventsExpected: boolean): Html {
  return eventsExpected
    ? html`<span class="muted">no event yet</span>`
    : html`<span class="muted" title="No Event Webhook is set up (TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY), so no delivery event can arrive">not tracked</span>`;
}

/**
 * What the recipients' mail servers said, as the message's page shows it per recipient: `sent`
 * only means the provider took the mail, and a bounced guest's confirmation is `sent` too.
 */
function deliveryText(r: MessageRecord, eventsExpected: boolean): Html {
  const seen = [
    ...new Set(r.recipients.flatMap((x) => (x.deliveryStatus ? [x.deliveryStatus] : []))),
  ];
  if (seen.length > 0)
    return html`${seen.map((d, i) => html`${i > 0 ? ' ' : ''}<span class="badge d-${d}">${d}</span>`)}`;
  if (r.status !== 'sent') return html`<span class="muted">–</span>`;
  return noEvent(eventsExpected);
}

function recipientsText(r: MessageRecord): string {
  const first = r.recipients[0]?.email ?? '';
  return r.recipients.length > 1 ? `${first} +${r.recipients.length - 1}` : first;
}

/** A CSV cell: quoted, and text a spreadsheet would run as a formula made inert. */
export function csvCell(value: string | number | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r|]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

/** The hidden fields that keep, through a retry or a cancel, where the message was opened from. */
function keep(q: string, back: string | null): Html {
  return html`${q ? html`<input type="hidden" name="q" value="${q}">` : ''}${back ? html`<input type="hidden" name="back" value="${back}">` : ''}`;
}

export function registerMessagePages(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/console/messages', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const { q = '' } = request.query as Fields;
    const before = olderThanCursor((request.query as Fields).before, 'msg', 'messages');
    const parsed = parseSearch(q);
    // A search not understood is said under the box, which keeps what was typed, as the unsent
    // view does: 400, and nothing is listed (an empty list would read as "no such mail"), nor
    // offered for export.
    const refused =
      parsed.errors.length > 0
        ? refusal('search-error', parsed.errors, ['q'], SEARCH_REFUSED)
        : null;
    const records = refused ? [] : await search(deps, state, parsed, before);
    const last = records.length === PAGE_SIZE ? records[records.length - 1] : undefined;
    const body = html`<form method="get" action="/console/messages" class="search">
  <input type="search" name="q" value="${q}" placeholder="to:guest@example.jp status:failed -category:news" aria-label="Search" autofocus${invalidIf(refused, 'q')}>
  <button type="submit">Search</button>
  ${refused ? '' : html`<a class="button secondary" href="/console/messages.csv${qs({ q })}">Export CSV</a>`}
</form>
${refusalNotice(refused)}
<details class="help"${refused ? html` open` : ''}><summary>Search keys</summary>
<p><code>to:</code> a recipient (or <code>to:@domain</code>, or part of an address or name: <code>to:tanaka</code>), <code>from:</code>, <code>subject:</code> words, <code>status:</code>, <code>reason:</code> (unsent), <code>unit:</code>, <code>category:</code>, <code>meta.KEY:VALUE</code>, <code>provider:</code>, <code>error:</code> (error class, e.g. http_400), <code>event:</code> (a recipient's delivery status: accepted, delivered, deferred, bounced, blocked, dropped, or none yet), <code>before:</code>/<code>after:</code> (created, UTC), <code>id:</code> (Tegami's id, or a provider's: SendGrid's X-Message-Id or sg_message_id, or the X-Message-Id an application got from <code>/v3/mail/send</code>). Put <code>-</code> before a term to exclude it; quote values with spaces.</p></details>
${
  refused
    ? ''
    : html`<table class="list messages">
<thead><tr><th>Created</th><th>Status</th><th>Delivery</th><th>To</th><th>Subject</th><th>Unit</th><th>Last error</th></tr></thead>
<tbody>${records.map(
        (r) => html`<tr>
  <td data-label="Created">${time(r.createdAt)}</td><td>${statusBadge(r.status)}</td><td data-label="Delivery">${deliveryText(r, deps.eventsExpected)}</td>
  <td data-label="To" class="wrap">${recipientsText(r)}</td>
  <td class="subject"><a href="/console/messages/${r.id}${qs({ q })}">${subjectText(r.content)}</a></td>
  <td data-label="Unit">${r.unit}</td><td data-label="Last error">${r.lastErrorClass ?? ''}</td></tr>`,
      )}</tbody></table>
${records.length === 0 ? noMatch(parsed, before) : ''}`
}
${last ? html`<p><a href="/console/messages${qs({ q, before: last.id })}" rel="next">Older messages →</a></p>` : ''}`;
    return reply
      .code(refused ? 400 : 200)
      .type('text/html')
      .send(page('Search', state, body, '/console/messages').text);
  });

  app.get('/console/messages.csv', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const { q = '' } = request.query as { q?: string };
    const parsed = parseSearch(q);
    if (parsed.errors.length > 0) throw new ConsoleError(400, parsed.errors.join('; '));
    const records = await search(deps, state, parsed, undefined, CSV_MAX_ROWS);
    const lines = [
      [
        'id',
        'created_at',
        'status',
        'unit',
        'from',
        'to',
        'subject',
        'provider',
        'error_class',
        'attempts',
      ]
        .map(csvCell)
        .join(','),
      ...records.map((r) =>
        [
          r.id,
          new Date(r.createdAt).toISOString(),
          r.status,
          r.unit,
          r.content.from.email,
          r.recipients.map((x) => x.email).join(' '),
          // Named by its template as the lists name it, so the export does not show it as mail
          // without a subject; mail that has none, and no template, stays an empty cell.
          templateSubject(r.content) ?? r.content.subject,
          r.lastProvider,
          r.lastErrorClass,
          r.attemptCount,
        ]
          .map(csvCell)
          .join(','),
      ),
    ];
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="tegami-messages.csv"')
      .send(`\ufeff${lines.join('\r\n')}\r\n`);
  });

  async function load(request: Parameters<typeof stateOf>[0], id: string) {
    const state = stateOf(request);
    const unitId = state.scope.kind === 'unit' ? state.scope.unitId : undefined;
    const record = await deps.messages.get(id, unitId);
    // Another unit's message is not found: the page must not tell that it exists.
    if (!record) throw new ConsoleError(404, noMessage(id));
    return { state, record };
  }

  function bodiesAllowed(state: ConsoleRequestState): void {
    if (!state.user.canReadBodies) {
      throw new ConsoleError(403, 'Your account sees message metadata only, not the content.');
    }
  }

  app.get('/console/messages/:id', { config: { permission: 'read' } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const { q = '', back: backParam } = request.query as { q?: string; back?: string };
    // Back where the message was opened from (the unsent view, a dry run), if that is a page of
    // this console; otherwise (or without one) back to the search.
    const back = backPath(backParam);
    const { state, record: r } = await load(request, id);
    const unitId = state.scope.kind === 'unit' ? state.scope.unitId : undefined;
    const recent = await deps.messageEvents.recentEvents(r.id, EVENTS_SHOWN_PER_RECIPIENT);
    const groups = [
      ...[...recent.recipients.values()].map((g) => ({ ...g, matchesRecipient: true })),
      { ...recent.others, matchesRecipient: false },
    ];
    const events = groups.flatMap((g) =>
      g.events.map((e) => ({ ...e, matchesRecipient: g.matchesRecipient })),
    );
    const olderEvents = groups.reduce((n, g) => n + g.total - g.events.length, 0);
    const now = (deps.clock ?? Date.now)();
    // Mail due to go: held by the provider's state, if it is not healthy.
    const due = r.status === 'queued' || (r.status === 'scheduled' && (r.sendAt ?? 0) <= now);
    const [webhooks, hold, probed] = await Promise.all([
      deps.webhooks.messageDeliveries(r.id, 100),
      due ? providerHold(deps, now, { state, url: request.url }) : '',
      probeNotice(deps, (request.query as Fields)[PROBED]),
    ]);
    // Only the endpoints this message's status webhooks went to are read, however many the
    // unit has; one deleted since is named too: its log is still there, until retention.
    const endpoints = await Promise.all(
      [...new Set(webhooks.map((w) => w.endpointId))].map((id) =>
        deps.webhooks.find(id, unitId, { deleted: true }),
      ),
    );
    const endpointOf = new Map(
      endpoints
        .flatMap((e) => (e ? [e] : []))
        .map((e) => [e.id, { url: shownUrl(e.url, state.user), deleted: e.deletedAt !== null }]),
    );
    const admin = state.user.role === 'admin';
    // What came after an attempt, for its outcome's words ("failed, will retry").
    const lastAttempt = Math.max(0, ...r.attempts.map((a) => a.number));
    const stillDue = r.status === 'queued' || r.status === 'scheduled' || r.status === 'sending';
    const afterAttempt = (n: number): AfterAttempt =>
      n < lastAttempt ? 'tried again' : stillDue ? 'due' : 'done';
    const timeline: { at: number; occurredAt: number; what: Html }[] = [
      ...r.attempts.map((a) => {
        // The detail joins the provider's errors: one is shown once, several as a list.
        const errors = a.providerErrors && a.providerErrors.length > 1 ? a.providerErrors : [];
        return {
          at: a.startedAt,
          occurredAt: a.startedAt,
          what: html`<strong>Attempt ${a.number}</strong> to ${filterLink(q, 'provider', a.provider)}: ${attemptOutcomeWords(a.outcome, afterAttempt(a.number), a.httpStatus)}${a.errorClass ? html` · ${filterLink(q, 'error', a.errorClass)}` : ''}, ${a.durationMs} ms
${errors.length === 0 && a.detail ? html`<div>${a.detail}</div>` : ''}
${errors.length > 0 ? html`<ul>${errors.map((e) => html`<li>${e.message}${e.field ? html` <span class="muted">(${e.field})</span>` : ''}</li>`)}</ul>` : ''}
${a.responseExcerpt ? html`<details><summary>The provider's answer</summary><pre>${a.responseExcerpt}</pre></details>` : ''}`,
        };
      }),
      ...events.map((e) => ({
        // Ordered by arrival: a provider's event times are whole seconds, and would otherwise
        // sort before the attempt they report on.
        at: Math.max(e.occurredAt, e.receivedAt),
        occurredAt: e.occurredAt,
        what: eventHtml(q, e),
      })),
      ...webhooks.map((w) => {
        const endpoint = endpointOf.get(w.endpointId);
        const { state: shown, posts, answer } = webhookProgress(w);
        return {
          at: w.createdAt,
          occurredAt: w.createdAt,
          what: html`<strong>Status webhook</strong> ${w.eventType} to ${endpoint?.url ?? w.endpointId}${endpoint?.deleted ? html` <span class="muted">(endpoint deleted)</span>` : ''}: ${shown}, ${posts}${answer ? html` <span class="muted">· ${answer}</span>` : ''}${admin && endpoint ? html` · <a href="/console/webhooks/${w.endpointId}/deliveries${qs({ message: r.id })}">in the endpoint's log</a>` : ''}`,
        };
      }),
    ].sort((a, b) => a.at - b.at);
    const actions: Html[] = [];
    // Shown to those who may use them; the server checks the role again on every request.
    const operator = state.user.role !== 'viewer';
    if (operator && r.status === 'failed') {
      actions.push(
        html`<form method="post" action="/console/messages/${r.id}/retry" class="inline">${csrf(state)}${keep(q, back)}<button type="submit">Retry</button></form>`,
      );
    }
    if (operator && (r.status === 'queued' || r.status === 'scheduled')) {
      actions.push(
        html`<form method="post" action="/console/messages/${r.id}/cancel" class="inline">${csrf(state)}${keep(q, back)}<button type="submit" class="danger">Cancel</button></form>`,
      );
    }
    const c = r.content;
    const template = forwardedTemplate(c);
    const body = html`<p>${back ? html`<a href="${back}" id="back">${backLabel(back)}</a>` : html`<a href="/console/messages${qs({ q })}" id="back">← Back to the search</a>`}</p>${probed}${hold}
<section class="card">
${whatHappened(r, (email) => recent.recipients.get(email)?.events ?? [], deps.eventsExpected, now)}
<dl class="fields">
<dt>Id</dt><dd><code>${r.id}</code></dd>
<dt>Status</dt><dd><a class="filter" href="/console/messages${qs({ q: addTerm(q, 'status', r.status) })}" title="search status:${r.status}">${statusBadge(r.status)}</a></dd>
<dt>Subject</dt><dd>${c.subject || html`<span class="muted">${subjectText(c)}</span>`}</dd>
<dt>From</dt><dd>${c.from.name ? html`${c.from.name} ` : ''}${filterLink(q, 'from', c.from.email)}</dd>
<dt>Unit</dt><dd>${filterLink(q, 'unit', r.unit)}</dd>
<dt>Priority</dt><dd>${r.priority}</dd>
<dt>Categories</dt><dd>${c.categories.length ? c.categories.map((x) => html`${filterLink(q, 'category', x)} `) : html`<span class="muted">–</span>`}</dd>
<dt>Metadata</dt><dd>${Object.keys(c.metadata).length ? Object.entries(c.metadata).map(([k, v]) => html`${filterLink(q, `meta.${k}`, v)} <span class="muted">(${k})</span> `) : html`<span class="muted">–</span>`}</dd>
<dt>Created</dt><dd>${time(r.createdAt)}</dd>
${r.sendAt !== null ? html`<dt>Send at</dt><dd>${time(r.sendAt)}</dd>` : ''}
<dt>Sent</dt><dd>${time(r.sentAt)}</dd>
<dt>Attempts</dt><dd>${r.attemptCount}</dd>
${r.status === 'failed' && r.lastError ? html`<dt>Why not sent</dt><dd class="error" data-why>${r.lastError}</dd>` : ''}
</dl>
${actions.length ? html`<div class="actions">${actions}</div>` : ''}
</section>
<h2>Recipients</h2>
<table class="list"><thead><tr><th>Name</th><th>Address</th><th>Kind</th><th>Status</th><th>Delivery</th></tr></thead>
<tbody>${r.recipients.map((x) => html`<tr><td class="wrap">${x.name ?? html`<span class="muted">–</span>`}</td><td class="wrap">${filterLink(q, 'to', x.email)}</td><td>${x.kind}</td><td>${x.status}${x.suppressedReason ? html` (${suppressionReasonText(x.suppressedReason)}; <a href="/console/suppressions${qs({ email: x.email })}">on the suppression list</a>)` : ''}</td><td>${x.deliveryStatus ?? (x.status === 'sent' || x.status === 'pending' ? noEvent(deps.eventsExpected) : html`<span class="muted">not sent</span>`)} ${x.deliveryStatusAt ? time(x.deliveryStatusAt) : ''}</td></tr>`)}</tbody></table>
<h2>Timeline</h2>
<ol class="timeline">${timeline.map((t) => html`<li>${time(t.occurredAt)} ${t.what}</li>`)}</ol>
${timeline.length === 0 ? html`<p class="muted">${r.status === 'failed' || r.status === 'cancelled' ? 'Never handed to the provider.' : 'Not tried yet.'}</p>` : ''}
${olderEvents > 0 ? html`<p class="muted" role="note">${count(olderEvents, 'older delivery event is', 'older delivery events are')} not shown: the timeline has the newest ${EVENTS_SHOWN_PER_RECIPIENT} of each recipient, and of the events matching no recipient. <a href="/console/messages/${r.id}/events${qs({ q, back })}">All delivery events →</a></p>` : ''}
<h2>Content</h2>
${
  state.user.canReadBodies
    ? html`${template ? templateWords(template) : ''}<div class="tabs" data-tabs>
<nav><a href="#tab-html">HTML</a> <a href="#tab-text">Text</a> <a href="#tab-raw">Raw MIME</a></nav>
<section id="tab-html">${
        c.html
          ? html`<p class="muted">Remote images are blocked. <a href="/console/messages/${r.id}/html?images=1" target="message-body" data-images>Load remote images once</a></p>
<iframe name="message-body" title="The message's HTML" sandbox="" src="/console/messages/${r.id}/html" referrerpolicy="no-referrer"></iframe>`
          : html`<p class="muted">${template ? 'No HTML part here: SendGrid renders it from the template.' : 'No HTML part.'}</p>`
      }</section>
<section id="tab-text"><pre class="body">${c.text ?? (template ? '(no text part here: SendGrid renders it from the template)' : '(no text part)')}</pre></section>
<section id="tab-raw"><p><a href="/console/messages/${r.id}/raw">Show the raw MIME</a></p></section>
</div>
${c.attachments.length ? html`<h3>Attachments</h3><ul>${c.attachments.map((a, i) => html`<li><a href="/console/messages/${r.id}/attachments/${i}" download="${a.filename}">${a.filename}</a> <span class="muted">${a.content_type}, ${Math.ceil((a.content.length * 3) / 4 / 1024)} KiB${a.disposition === 'inline' ? ', inline' : ''}${a.content_id !== undefined ? html`, <code>cid:${a.content_id}</code>` : ''}</span></li>`)}</ul>` : ''}`
    : html`<p class="muted">Your account sees message metadata only.</p>`
}`;
    return reply
      .type('text/html')
      .send(page(c.subject || r.id, state, body, '/console/messages').text);
  });

  // Every delivery event of a message, newest first, a page at a time: the message's page shows
  // only the newest of each recipient.
  app.get(
    '/console/messages/:id/events',
    { config: { permission: 'read' } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { q = '', before } = request.query as { q?: string; before?: string };
      const back = backPath((request.query as { back?: string }).back);
      const state = stateOf(request);
      const cursor = before === undefined ? undefined : decodeEventCursor(before);
      if (cursor === null) throw new ConsoleError(400, 'That page of events does not exist.');
      const events = await deps.messageEvents.eventPage(id, {
        ...(state.scope.kind === 'unit' ? { unitId: state.scope.unitId } : {}),
        ...(cursor ? { before: cursor } : {}),
        limit: EVENTS_PAGE_SIZE + 1,
      });
      // Another unit's message is not found: the page must not tell that it exists.
      if (!events) throw new ConsoleError(404, noMessage(id));
      const shown = events.slice(0, EVENTS_PAGE_SIZE);
      const last = events.length > EVENTS_PAGE_SIZE ? shown[shown.length - 1] : undefined;
      const body = html`<p><a href="/console/messages/${id}${qs({ q, back })}">← Back to the message</a></p>
<h2>Delivery events, newest first</h2>
<ol class="timeline">${shown.map((e) => html`<li>${time(e.occurredAt)} ${eventHtml(q, e)}</li>`)}</ol>
${shown.length === 0 ? html`<p class="muted">No delivery event${before ? ' older than these' : ''}.</p>` : ''}
${last ? html`<p><a href="/console/messages/${id}/events${qs({ q, back, before: encodeEventCursor(last.cursor) })}" rel="next">Older events →</a></p>` : ''}`;
      return reply
        .type('text/html')
        .send(page(`Delivery events of ${id}`, state, body, '/console/messages').text);
    },
  );

  // The HTML part, alone, for the sandboxed iframe: no script can run (CSP and sandbox), nothing
  // is fetched unless the viewer asked for images once, and nothing is fetched by the server.
  app.get(
    '/console/messages/:id/html',
    { config: { permission: 'read' } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { images } = request.query as { images?: string };
      const { state, record } = await load(request, id);
      bodiesAllowed(state);
      const img = images === '1' ? 'img-src data: https: http:' : 'img-src data:';
      return (
        reply
          .header(
            'content-security-policy',
            `default-src 'none'; style-src 'unsafe-inline'; ${img}; font-src data:; sandbox; base-uri 'none'; form-action 'none'; frame-ancestors 'self'`,
          )
          .header('x-frame-options', 'SAMEORIGIN')
          // A <link rel="dns-prefetch"> in the mail would otherwise tell its sender someone looked.
          .header('x-dns-prefetch-control', 'off')
          .header('referrer-policy', 'no-referrer')
          .type('text/html; charset=utf-8')
          .send(withInlineImages(record.content.html ?? '', record.content.attachments))
      );
    },
  );

  app.get(
    '/console/messages/:id/raw',
    { config: { permission: 'read' } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { state, record } = await load(request, id);
      bodiesAllowed(state);
      return reply
        .type('text/plain; charset=utf-8')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .send(await deps.renderMime(record));
    },
  );

  app.get(
    '/console/messages/:id/attachments/:n',
    { config: { permission: 'read' } },
    async (request, reply) => {
      const { id, n } = request.params as { id: string; n: string };
      const { state, record } = await load(request, id);
      bodiesAllowed(state);
      const attachment = record.content.attachments[Number(n)];
      if (!/^\d+$/.test(n) || !attachment) throw new ConsoleError(404, 'No such attachment.');
      // Always a download, never shown inline: an attachment is the sender's, not ours to render.
      return reply
        .type('application/octet-stream')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header(
          'content-disposition',
          `attachment; filename*=UTF-8''${encodeURIComponent(attachment.filename)}`,
        )
        .send(Buffer.from(attachment.content, 'base64'));
    },
  );

  const change =
    (action: 'retry' | 'cancel') =>
    async (request: Parameters<typeof stateOf>[0], reply: FastifyReply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const result =
        action === 'retry'
          ? await deps.operations.retryMessage(state.scope, state.actor, id)
          : await deps.operations.cancelMessage(state.scope, state.actor, id);
      if (result.kind === 'not_found') throw new ConsoleError(404, noMessage(id));
      // Already so (the button clicked twice on a slow link, or someone else was first): the
      // message's page shows where it is now, rather than an error about the second click.
      const already =
        result.kind === 'wrong_status' &&
        (action === 'retry'
          ? ['queued', 'scheduled', 'sending', 'sent'].includes(result.status)
          : result.status === 'cancelled');
      if (result.kind === 'wrong_status' && !already) {
        throw new ConsoleError(
          409,
          `The message is ${result.status}: it cannot be ${action === 'retry' ? 'retried' : 'cancelled'}.`,
        );
      }
      // Back to the message, keeping the page it was opened from (its "Back" link).
      const form = request.body as Record<string, unknown> | undefined;
      const q = form?.q;
      return reply.redirect(
        `/console/messages/${encodeURIComponent(id)}${qs({ q: typeof q === 'string' ? q : '', back: backPath(form?.back) })}`,
        303,
      );
    };
  app.post('/console/messages/:id/retry', { config: { permission: 'operate' } }, change('retry'));
  app.post('/console/messages/:id/cancel', { config: { permission: 'operate' } }, change('cancel'));
}
