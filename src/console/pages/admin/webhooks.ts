import type { FastifyInstance, FastifyRequest } from 'fastify';
import { count, oneOrMany } from '../../../domain/count-words.ts';
import { isIdOf, MESSAGE_ID, MESSAGE_ID_IN_WORDS } from '../../../domain/ids.ts';
import type { Unit } from '../../../domain/operations/units.ts';
import {
  type DeletedEndpointCursor,
  WEBHOOK_DELIVERY_STATUSES,
  type WebhookDelivery,
  type WebhookDeliveryStatus,
  type WebhookEndpoint,
} from '../../../domain/ports/status-webhook-store.ts';
import {
  DEFAULT_PREVIOUS_SECRET_SECONDS,
  generateWebhookSecret,
  MAX_PREVIOUS_SECRET_SECONDS,
  WEBHOOK_EVENT_TYPES,
} from '../../../domain/status-webhooks.ts';
import {
  createEndpointByHand,
  deleteEndpointByHand,
  redeliverByHand,
  rotateSecretByHand,
} from '../../../domain/webhook-endpoints-by-hand.ts';
import type { ConsoleDeps } from '../../deps.ts';
import { html, qs, time } from '../../html.ts';
import { csrf, page } from '../../layout.ts';
import { olderThanCursor } from '../../page-link.ts';
import { invalidIf, type Refusal, refusal, refusalNotice } from '../../refusal.ts';
import {
  ConsoleError,
  type ConsoleRequestState,
  type Fields,
  stateOf,
  unitIdOf,
} from '../../session.ts';
import {
  type NamedUnit,
  noUnitNamed,
  unitField,
  unitOfField,
  unitsToList,
} from '../../unit-field.ts';
import { eitherOf, webhookProgress } from '../words.ts';

// The form's labels, by the names the domain gives its fields (as the API does): a refusal names
// a field as the form shows it.
const ENDPOINT_LABELS = { url: 'URL', events: 'Events', unit: 'Unit' } as const;

/**
 * Active endpoints per page of the endpoints' page, newest first, as `GET /v1/webhook-endpoints`
 * lists them: a unit may add any number of endpoints, and each card holds its forms and its
 * newest status webhooks.
 */
const ENDPOINTS_PAGE_SIZE = 20;

/**
 * Deleted endpoints listed (with a link to their logs) under the first page of active ones, the
 * most recently deleted first; the rest, kept until retention removes their logs, on pages of
 * their own.
 */
const DELETED_ENDPOINTS_SHOWN = 20;
const DELETED_ENDPOINTS_PAGE_SIZE = 50;

const NO_SUCH_DELETED_PAGE = 'That page of deleted endpoints does not exist.';

/** A status webhook endpoint that is not there, or not one of this user's units'. */
const NO_ENDPOINT = 'No such status webhook endpoint among those you manage.';

/** An endpoint to act on that is not there, or deleted: only an active one is changed. */
const NO_ACTIVE_ENDPOINT =
  'No such status webhook endpoint, or it was deleted: a deleted endpoint is not changed any more. Its log is under Deleted endpoints on the Status webhooks page.';

/**
 * An endpoint's newest status webhooks on its card, and those per page of its log: a page of
 * endpoints draws at most 100 (20 cards of 5), as a page of one endpoint's log does.
 */
const WEBHOOK_LOG_SHOWN = 5;
const WEBHOOK_LOG_PAGE_SIZE = 100;

/** Pending status webhooks counted on the page that asks before deleting their endpoint. */
const PENDING_COUNTED = 1000;

/**
 * A redeliver's answer's `count` as its redirect writes it: a whole number in plain digits, no
 * sign and no leading zero. A redeliver queues every failed status webhook of its endpoint, with
 * no cap of its own, so the bound is the largest count a number holds exactly
 * (Number.MAX_SAFE_INTEGER): whatever count a redeliver answers, its page takes.
 */
const REQUEUED_COUNT = /^(0|[1-9][0-9]*)$/;
const NOT_A_REQUEUED_COUNT =
  'count: how many failed status webhooks were queued again (a whole number, 0 or more)';

function requeuedCountOf(value: string): number | null {
  if (!REQUEUED_COUNT.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

function isDeliveryStatus(value: string): value is WebhookDeliveryStatus {
  return (WEBHOOK_DELIVERY_STATUSES as readonly string[]).includes(value);
}

/**
 * Status webhooks: when, which event about which message, and what came of posting it (posts so
 * far, as the message's timeline counts them, and the receiver's last answer). One posted again
 * by hand says when it was queued again, and its answer from before, until the next post.
 */
function deliveryTable(entries: WebhookDelivery[]) {
  return html`<table class="list compact"><thead><tr><th>Created</th><th>Event</th><th>Message</th><th>Status</th><th>Posts</th><th>Last answer</th></tr></thead>
<tbody>${entries.map((d) => {
    const { state, answer } = webhookProgress(d);
    return html`<tr><td>${time(d.createdAt)}</td><td>${d.eventType}</td><td>${d.messageId ? html`<a href="/console/messages/${d.messageId}"><code>${d.messageId}</code></a>` : ''}</td><td>${state}</td><td>${d.attempts}${d.requeuedAt === null ? '' : ' since then'}</td><td class="wrap">${answer}</td></tr>`;
  })}</tbody></table>`;
}

/** Deleted endpoints, each with its unit, when it was deleted and a link to its log. */
function deletedList(deleted: WebhookEndpoint[], unitName: (e: WebhookEndpoint) => string) {
  return html`<ul id="deleted-endpoints">${deleted.map((e) => html`<li><code>${e.url}</code> · ${unitName(e)} · deleted ${time(e.deletedAt)} · <a href="/console/webhooks/${e.id}/deliveries">its log →</a></li>`)}</ul>`;
}

/** The windows the console offers for a rotated-out webhook secret, in seconds. */
const KEEP_PREVIOUS_CHOICES: [number, string][] = [
  [3600, '1 hour'],
  [DEFAULT_PREVIOUS_SECRET_SECONDS, '24 hours'],
  [MAX_PREVIOUS_SECRET_SECONDS, '7 days'],
  [0, 'no longer (leaked)'],
];

/**
 * Status webhook endpoints (admins, of every unit or of the unit they look at): the endpoints
 * with their newest status webhooks, adding, deleting, posting failed ones again, rotating the
 * secret, and each endpoint's whole log.
 */
export function registerWebhookPages(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;

  /**
   * The units the new endpoint's form offers: every unit to an admin of every unit (null: too
   * many to list, and the form takes a unit's name), the one it is looking at to an admin of
   * some units.
   */
  async function unitsOffered(state: ConsoleRequestState): Promise<Unit[] | null> {
    if (state.scope.kind === 'all') return unitsToList(deps, state.scope);
    return state.units.filter((u) => u.id === state.unitId);
  }

  /** Endpoints' units as a page says them: "every unit", or "unit hotel". */
  async function unitWords(endpoints: WebhookEndpoint[]) {
    const names = await deps.operations.unitNames(endpoints.map((e) => e.unitId));
    return (e: WebhookEndpoint) =>
      e.allUnits ? 'every unit' : `unit ${names.get(e.unitId) ?? e.unitId}`;
  }

  /**
   * The signed-in user and the endpoint the path's `:id` names, deleted ones too (their logs stay
   * readable), among those the user manages: or 404.
   */
  async function endpointOfPath(request: FastifyRequest) {
    const state = stateOf(request);
    const { id } = request.params as { id: string };
    const endpoint = await deps.webhooks.find(id, unitIdOf(state), { deleted: true });
    if (!endpoint) throw new ConsoleError(404, NO_ENDPOINT);
    return { state, id, endpoint };
  }

  /** What the new endpoint's form held when it was refused, shown again as typed. */
  interface EndpointForm {
    url: string;
    events: string[];
    unit: string;
  }

  /**
   * The cursor `older` of the endpoints' page, or of a form or link on it: undefined on the first
   * page. Only its shape is checked (a link no page made is a 400): endpoints are listed by id, so
   * the id of one deleted since still names a place in the list.
   */
  const endpointsCursor = (older: string | undefined) =>
    olderThanCursor(older, 'whk', 'status webhook endpoints');

  /** The endpoints' page the cursor `older` names, at an endpoint's card. */
  const endpointsPageAt = (older: string | undefined, id: string) =>
    `/console/webhooks${qs({ older })}#endpoint-${id}`;

  /**
   * A page of the endpoints' page: active endpoints newest first, those created before `older`
   * (none: the first page, which also lists the most recently deleted ones).
   * `redelivered`: the endpoint whose failed status webhooks were just queued again, and how
   * many; `refused`: the new endpoint's form as typed, and what is wrong.
   */
  async function webhooksPage(
    state: ConsoleRequestState,
    older: string | undefined,
    redelivered: { id: string; count: number } | null,
    refused: { form: EndpointForm; why: Refusal } | null,
  ) {
    const unitId = unitIdOf(state);
    const [found, deletedFound] = await Promise.all([
      // One more than a page: whether an older page exists (keyset, by id).
      deps.webhooks.list(unitId, {
        limit: ENDPOINTS_PAGE_SIZE + 1,
        ...(older !== undefined ? { beforeId: older } : {}),
      }),
      // Under the first page only; one more than shown: whether more were deleted before.
      older === undefined
        ? deps.webhooks.listDeleted({ limit: DELETED_ENDPOINTS_SHOWN + 1 }, unitId)
        : [],
    ]);
    const endpoints = found.slice(0, ENDPOINTS_PAGE_SIZE);
    const last = found.length > ENDPOINTS_PAGE_SIZE ? endpoints.at(-1) : undefined;
    const deleted = deletedFound.slice(0, DELETED_ENDPOINTS_SHOWN);
    const lastDeleted = deletedFound.length > DELETED_ENDPOINTS_SHOWN ? deleted.at(-1) : undefined;
    const now = clock();
    const [logs, units, unitName] = await Promise.all([
      // One more than shown for each: whether the endpoint's log goes on.
      deps.webhooks.newestDeliveries(
        endpoints.map((e) => e.id),
        WEBHOOK_LOG_SHOWN + 1,
      ),
      unitsOffered(state),
      unitWords([...endpoints, ...deleted]),
    ]);
    const redeliveredNote = (e: WebhookEndpoint) =>
      redelivered?.id === e.id
        ? html`<p role="status" id="redelivered"><strong>${
            redelivered.count === 0
              ? 'No failed status webhook to post again.'
              : `${count(redelivered.count, 'failed status webhook')} queued to be posted again.`
          }</strong></p>`
        : '';
    const typed = refused?.form;
    const why = refused?.why ?? null;
    // Every event, until a refused form says which were picked.
    const events = typed?.events ?? WEBHOOK_EVENT_TYPES;
    // Each form says which page it was on, for its answer to come back to that page.
    const onThisPage = older ? html`<input type="hidden" name="older" value="${older}">` : '';
    const body = html`<form method="post" action="/console/webhooks" class="card inline-form">${csrf(state)}${onThisPage}
${refusalNotice(why)}
<label>${ENDPOINT_LABELS.url} <input type="url" name="url" required placeholder="https://app.example.jp/tegami-hooks" value="${typed?.url ?? ''}"${invalidIf(why, 'url')}></label>
<label>${ENDPOINT_LABELS.events} <select name="events" multiple size="4" required${invalidIf(why, 'events')}>${WEBHOOK_EVENT_TYPES.map((t) => html`<option${events.includes(t) ? ' selected' : ''}>${t}</option>`)}</select></label>
<label>${ENDPOINT_LABELS.unit} ${unitField(units, { name: 'unit', typed: typed?.unit, invalid: invalidIf(why, 'unit'), ...(state.scope.kind === 'all' ? { everyUnit: 'every unit' } : {}) })}</label>
<button type="submit">Add endpoint</button></form>
${endpoints.map((e) => {
  const log = logs.get(e.id) ?? [];
  return html`<section class="card" id="endpoint-${e.id}"><h2>${e.url}</h2>
<p>Events: ${e.events.join(', ')} · ${unitName(e)} · created ${time(e.createdAt)}${e.previousSecretExpiresAt !== null && e.previousSecretExpiresAt > now ? html` · the previous secret signs too until ${time(e.previousSecretExpiresAt)}` : ''}</p>
${redeliveredNote(e)}<form method="post" action="/console/webhooks/${e.id}/redeliver" class="inline">${csrf(state)}${onThisPage}<button type="submit">Post failed status webhooks again</button></form>
<form method="post" action="/console/webhooks/${e.id}/rotate-secret" class="inline">${csrf(state)}${onThisPage}<label>Old secret keeps signing <select name="keep_previous_for_seconds">${KEEP_PREVIOUS_CHOICES.map(([seconds, label]) => html`<option value="${seconds}" ${seconds === DEFAULT_PREVIOUS_SECRET_SECONDS ? 'selected' : ''}>${label}</option>`)}</select></label><button type="submit">Rotate secret</button></form>
<a class="button danger" href="/console/webhooks/${e.id}/delete${qs({ older })}">Delete endpoint…</a>
${deliveryTable(log.slice(0, WEBHOOK_LOG_SHOWN))}
<p><a href="/console/webhooks/${e.id}/deliveries">${log.length > WEBHOOK_LOG_SHOWN ? 'Older status webhooks, or those of one status or message →' : 'Status webhooks of one status or message →'}</a></p></section>`;
})}
${endpoints.length === 0 ? html`<p class="muted" role="status">${older ? 'No older endpoint.' : 'No endpoint yet.'}</p>` : ''}
${last ? html`<p><a href="/console/webhooks${qs({ older: last.id })}" rel="next">Older endpoints →</a></p>` : ''}
${
  deleted.length > 0
    ? html`<h2>Deleted endpoints</h2>
<p class="muted">Nothing is posted to them any more; their logs are kept until retention removes them.</p>
${deletedList(deleted, unitName)}
${lastDeleted ? html`<p><a href="/console/webhooks/deleted${qs({ older: lastDeleted.id })}">Deleted before these →</a></p>` : ''}`
    : ''
}`;
    return page('Status webhooks', state, body, '/console/webhooks');
  }

  /**
   * After "Post failed status webhooks again": the endpoint (`redelivered`, its id) whose failed
   * status webhooks went back to the queue, and how many (`count`), said in its card. A value no
   * such answer made is refused with 400, as a page link is: an id of another shape, or a count
   * that is not one (REQUEUED_COUNT) or is missing beside the id. Only the id's shape is checked,
   * so an endpoint deleted since, or on another page, is just not said.
   */
  function redeliveredOf(
    id: string | undefined,
    requeued: string | undefined,
  ): { id: string; count: number } | null {
    const countGiven = requeued !== undefined && requeued !== '';
    const n = countGiven ? requeuedCountOf(requeued) : null;
    if (id === undefined || id === '') {
      // A count without its endpoint says nothing, but a malformed one is refused all the same.
      if (countGiven && n === null) throw new ConsoleError(400, NOT_A_REQUEUED_COUNT);
      return null;
    }
    if (!isIdOf('whk', id)) {
      throw new ConsoleError(400, "redelivered: a status webhook endpoint's id (whk_…)");
    }
    // Every answer names both: an id without its count is no answer's either.
    if (n === null) throw new ConsoleError(400, NOT_A_REQUEUED_COUNT);
    return { id, count: n };
  }

  app.get('/console/webhooks', { config: { permission: 'administer' } }, async (request, reply) => {
    const { redelivered, count: requeued, older } = request.query as Fields;
    const shown = await webhooksPage(
      stateOf(request),
      endpointsCursor(older),
      redeliveredOf(redelivered, requeued),
      null,
    );
    return reply.type('text/html').send(shown.text);
  });

  // Deleted endpoints past those under the endpoints' page, most recently deleted first, a page
  // at a time: their logs stay readable until retention removes them.
  app.get(
    '/console/webhooks/deleted',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const unitId = unitIdOf(state);
      // The last endpoint of the page before, read for when it was deleted: the list's order.
      // Endpoints are never removed (retention removes their logs), so a link made earlier
      // still works; one naming no deleted endpoint of this user's is a 400.
      const older = olderThanCursor((request.query as Fields).older, 'whk', 'deleted endpoints');
      let before: DeletedEndpointCursor | undefined;
      if (older !== undefined) {
        const pageBefore = await deps.webhooks.find(older, unitId, { deleted: true });
        if (!pageBefore || pageBefore.deletedAt === null)
          throw new ConsoleError(400, NO_SUCH_DELETED_PAGE);
        before = { id: pageBefore.id, deletedAt: pageBefore.deletedAt };
      }
      const found = await deps.webhooks.listDeleted(
        { limit: DELETED_ENDPOINTS_PAGE_SIZE + 1, ...(before ? { before } : {}) },
        unitId,
      );
      const deleted = found.slice(0, DELETED_ENDPOINTS_PAGE_SIZE);
      const last = found.length > DELETED_ENDPOINTS_PAGE_SIZE ? deleted.at(-1) : undefined;
      const body = html`<p><a href="/console/webhooks">← Back to the endpoints</a></p>
<h2>Deleted endpoints, most recently deleted first</h2>
<p class="muted">Nothing is posted to them any more; their logs are kept until retention removes them.</p>
${deleted.length > 0 ? deletedList(deleted, await unitWords(deleted)) : html`<p class="muted" role="status">No more deleted endpoints.</p>`}
${last ? html`<p><a href="/console/webhooks/deleted${qs({ older: last.id })}" rel="next">Deleted before these →</a></p>` : ''}`;
      return reply
        .type('text/html')
        .send(page('Deleted status webhook endpoints', state, body, '/console/webhooks').text);
    },
  );

  // An endpoint's whole log, newest first, a page at a time, by status or message: what the
  // application was sent about a booking, and what it answered.
  app.get(
    '/console/webhooks/:id/deliveries',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      // A field given twice is one value that matches nothing, as a value mistyped.
      const query = request.query as Record<string, unknown>;
      const field = (name: string) => (query[name] === undefined ? '' : String(query[name]));
      const status = field('status') || undefined;
      const message = field('message').trim();
      const older = olderThanCursor(field('older'), 'whd', 'status webhooks');
      if (status !== undefined && !isDeliveryStatus(status))
        throw new ConsoleError(400, 'status: pending, delivered or failed');
      // A deleted endpoint's log too, until retention removes it: what was posted to it before.
      const { state, id, endpoint } = await endpointOfPath(request);
      // A message id not understood is said above the form, which keeps what was typed.
      const badMessage = message !== '' && !MESSAGE_ID.test(message);
      const entries = badMessage
        ? []
        : await deps.webhooks.deliveries(id, {
            limit: WEBHOOK_LOG_PAGE_SIZE + 1,
            ...(older ? { beforeId: older } : {}),
            ...(status ? { status } : {}),
            ...(message ? { messageId: message } : {}),
          });
      const shown = entries.slice(0, WEBHOOK_LOG_PAGE_SIZE);
      const last = entries.length > WEBHOOK_LOG_PAGE_SIZE ? shown[shown.length - 1] : undefined;
      const filtered = status !== undefined || message !== '';
      const body = html`<p><a href="/console/webhooks">← Back to the endpoints</a></p>
<h2>Status webhooks to ${endpoint.url}, newest first</h2>
${endpoint.deletedAt !== null ? html`<div class="card notice" role="status" id="endpoint-deleted"><p>This endpoint was deleted ${time(endpoint.deletedAt)}: nothing has been posted to it since, and the status webhooks still pending then were marked failed (“endpoint deleted”). Its log is kept until retention removes it.</p></div>` : ''}
${badMessage ? html`<p class="error" role="alert" id="webhook-message-error">Message: ${MESSAGE_ID_IN_WORDS}.</p>` : ''}<form method="get" class="search inline-form">
<label>Status <select name="status"><option value="">any</option>${WEBHOOK_DELIVERY_STATUSES.map((s) => html`<option ${s === status ? 'selected' : ''}>${s}</option>`)}</select></label>
<label>Message id <input name="message" value="${message}" placeholder="msg_…"${badMessage ? html` aria-invalid="true" aria-describedby="webhook-message-error"` : ''}></label>
<button type="submit">Filter</button></form>
${deliveryTable(shown)}
${shown.length === 0 && !badMessage ? html`<p class="muted" role="status">${older ? 'No older status webhook matches.' : filtered ? 'No status webhook matches.' : 'No status webhook yet.'}</p>` : ''}
${last ? html`<p><a href="/console/webhooks/${id}/deliveries${qs({ status, message, older: last.id })}" rel="next">Older status webhooks →</a></p>` : ''}`;
      return reply
        .code(badMessage ? 400 : 200)
        .type('text/html')
        .send(page('Status webhooks', state, body, '/console/webhooks').text);
    },
  );

  app.post(
    '/console/webhooks',
    { config: { permission: 'administer', lists: ['events'] } },
    async (request, reply) => {
      const state = stateOf(request);
      const raw = request.body as Record<string, string | string[] | undefined>;
      const older = endpointsCursor(typeof raw.older === 'string' ? raw.older : undefined);
      const typedUrl = String(raw.url ?? '').trim();
      const form: EndpointForm = {
        url: typedUrl.slice(0, 4096),
        events: ([] as string[]).concat(raw.events ?? []),
        unit: String(raw.unit ?? '')
          .trim()
          .slice(0, 1000),
      };
      // Refused: the page again, with the form as typed and what is wrong above it.
      const refuse = async (field: keyof EndpointForm, problem: string) => {
        const why = refusal('endpoint-error', problem, [field], 'No endpoint was added.');
        const shown = await webhooksPage(state, older, null, { form, why });
        return reply.code(400).type('text/html').send(shown.text);
      };
      const url = `“${ENDPOINT_LABELS.url}”`;
      // As POST /v1/webhook-endpoints.
      if (typedUrl.length > 2048) {
        return refuse('url', `${url} must be at most 2,048 characters.`);
      }
      let parsed: URL;
      try {
        parsed = new URL(typedUrl);
      } catch {
        return refuse(
          'url',
          `${url} must be a whole URL, like https://app.example.jp/tegami-hooks.`,
        );
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        return refuse('url', `${url} must start with https:// (or http://).`);
      }
      if (parsed.username || parsed.password) {
        // The user name and password are a credential: not shown back, taken out of the URL.
        parsed.username = '';
        parsed.password = '';
        form.url = parsed.toString().slice(0, 4096);
        return refuse(
          'url',
          `${url} must hold no user name or password (they were taken out of it): the receiver knows a status webhook by its signature.`,
        );
      }
      if (
        form.events.length === 0 ||
        form.events.some((e) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(e))
      ) {
        return refuse(
          'events',
          `Pick one event or more for “${ENDPOINT_LABELS.events}”: ${eitherOf(WEBHOOK_EVENT_TYPES)}.`,
        );
      }
      const notYours =
        'That unit does not exist, or is not yours to manage: choose one from the list.';
      let unit: NamedUnit | undefined;
      if (form.unit !== '' && state.scope.kind === 'all') {
        // By id (the list's) or by name (typed, when there are too many units to list).
        const named = await unitOfField(deps, form.unit);
        if (named.kind === 'no_such_name') return refuse('unit', noUnitNamed(form.unit));
        if (named.kind === 'no_such_id') return refuse('unit', notYours);
        unit = named.unit;
      } else if (form.unit !== '') {
        unit = state.units.find((u) => u.id === state.unitId && u.id === form.unit);
        if (!unit) return refuse('unit', notYours);
      }
      if (!unit && state.scope.kind !== 'all') {
        return refuse(
          'unit',
          'Choose a unit: only an admin of every unit adds an endpoint for every unit.',
        );
      }
      const refused = await deps.checkDestination(parsed.toString());
      if (refused) return refuse('url', `${url} ${refused}.`);
      // An endpoint of every unit still names one (as an admin key's does: its own, `default`).
      const home = unit ?? (await deps.operations.findUnit('default'));
      const endpoint = await createEndpointByHand(deps.webhooks, state.actor, {
        url: parsed.toString(),
        events: [...new Set(form.events)],
        secret: generateWebhookSecret(),
        now: clock(),
        unitId: home?.id ?? '',
        allUnits: !unit,
      });
      const body = html`<div class="card notice" role="status"><p>Status webhooks to <strong>${endpoint.url}</strong> are signed with this secret, shown only this once; keep it now:</p><pre data-new-secret>${endpoint.secret}</pre></div>
<p><a href="/console/webhooks">Back to the endpoints</a></p>`;
      return reply
        .type('text/html')
        .send(page('Endpoint added', state, body, '/console/webhooks').text);
    },
  );

  // Deleting asks first, on a page of its own (as a recovery's dry run does): one click on the
  // endpoints' page deletes nothing, with or without JavaScript.
  app.get(
    '/console/webhooks/:id/delete',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      // The endpoints' page the link was on, for Back and for the answer.
      const older = endpointsCursor((request.query as Fields).older);
      const { state, id, endpoint } = await endpointOfPath(request);
      // Deleted already (someone else was first, or Back after deleting): its log says so.
      if (endpoint.deletedAt !== null) {
        return reply.redirect(`/console/webhooks/${id}/deliveries`, 303);
      }
      const unit = (await unitWords([endpoint]))(endpoint);
      // Counted up to one more than said: "more than 1,000" rather than a long backlog's count.
      const pending = await deps.webhooks.countPending(id, PENDING_COUNTED + 1);
      const many = pending > PENDING_COUNTED;
      const waiting =
        pending === 0
          ? html`No status webhook to it is waiting to be posted.`
          : html`<strong>${many ? `More than ${count(PENDING_COUNTED, 'status webhook')}` : count(pending, 'status webhook')} still waiting to be posted to it ${oneOrMany(pending, 'is', 'are')} never posted</strong>: ${oneOrMany(pending, 'it is', 'they are')} marked failed (“endpoint deleted”).`;
      const body = html`<p><a href="${endpointsPageAt(older, id)}">← Back to the endpoints</a></p>
<section class="card" id="confirm-delete"><p>Delete the endpoint <strong>${endpoint.url}</strong> (${unit}, events ${endpoint.events.join(', ')})?</p>
<p>Nothing more is posted to it. ${waiting} Its log stays readable, under Deleted endpoints, until retention removes it. A deleted endpoint cannot be brought back: one added again gets a new secret, which the application must be given.</p>
<form method="post" action="/console/webhooks/${id}/delete" class="inline">${csrf(state)}${older ? html`<input type="hidden" name="older" value="${older}">` : ''}<button type="submit" class="danger">Delete endpoint</button></form>
<a class="button secondary" href="${endpointsPageAt(older, id)}">Keep it</a></section>`;
      return reply
        .type('text/html')
        .send(page('Delete a status webhook endpoint', state, body, '/console/webhooks').text);
    },
  );

  app.post(
    '/console/webhooks/:id/delete',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const older = endpointsCursor((request.body as Fields).older);
      const { state, id } = await endpointOfPath(request);
      // Deleted already (the button clicked twice, or someone else was first): nothing is
      // recorded, and the page shows it so, rather than an error about the second click.
      await deleteEndpointByHand(
        deps.webhooks,
        state.actor,
        { id, unitId: unitIdOf(state) },
        clock(),
      );
      // The page the endpoint was on, without it now.
      return reply.redirect(`/console/webhooks${qs({ older })}`, 303);
    },
  );

  app.post(
    '/console/webhooks/:id/redeliver',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const older = endpointsCursor((request.body as Fields).older);
      const endpoint = await deps.webhooks.find(id, unitIdOf(state));
      if (!endpoint) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      const n = await redeliverByHand(
        deps.webhooks,
        state.actor,
        { endpoint, since: null },
        clock(),
      );
      // Deleted by a request that came in between: as if it had come first.
      if (n === null) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      // Back on the page it was on, which draws its card: endpoints created since come before it.
      return reply.redirect(
        `/console/webhooks${qs({ older, redelivered: id, count: n })}#endpoint-${id}`,
        303,
      );
    },
  );

  app.post(
    '/console/webhooks/:id/rotate-secret',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const form = request.body as Fields;
      const older = endpointsCursor(form.older);
      const raw = String(form.keep_previous_for_seconds ?? '');
      // As POST /v1/webhook-endpoints/{id}/rotate-secret; the form offers a few windows only.
      const keepSeconds = /^[0-9]{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(keepSeconds >= 0 && keepSeconds <= MAX_PREVIOUS_SECRET_SECONDS)) {
        throw new ConsoleError(
          400,
          `keep_previous_for_seconds: 0 to ${MAX_PREVIOUS_SECRET_SECONDS} seconds`,
        );
      }
      const endpoint = await rotateSecretByHand(
        deps.webhooks,
        state.actor,
        { id, unitId: unitIdOf(state), keepPreviousSeconds: keepSeconds },
        clock(),
      );
      if (!endpoint) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      const until =
        endpoint.previousSecretExpiresAt === null
          ? html`The previous secret no longer signs anything.`
          : html`The previous secret also signs every status webhook until ${time(endpoint.previousSecretExpiresAt)}: give the receiver the new one before then.`;
      const body = html`<div class="card notice" role="status"><p>Status webhooks to <strong>${endpoint.url}</strong> are signed with this new secret, shown only this once; keep it now:</p><pre data-new-secret>${endpoint.secret}</pre><p>${until}</p></div>
<p><a href="${endpointsPageAt(older, id)}">Back to the endpoints</a></p>`;
      return reply
        .type('text/html')
        .send(page('Secret rotated', state, body, '/console/webhooks').text);
    },
  );
}
