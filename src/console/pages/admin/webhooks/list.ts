import type { FastifyInstance } from 'fastify';
import { count } from '../../../../domain/count-words.ts';
import { isIdOf } from '../../../../domain/ids.ts';
import type { Unit } from '../../../../domain/operations/units.ts';
import type { WebhookEndpoint } from '../../../../domain/ports/status-webhook-store.ts';
import {
  DEFAULT_PREVIOUS_SECRET_SECONDS,
  MAX_PREVIOUS_SECRET_SECONDS,
  WEBHOOK_EVENT_TYPES,
} from '../../../../domain/status-webhooks.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { html, qs, time } from '../../../html.ts';
import { csrf, page } from '../../../layout.ts';
import { invalidIf, type Refusal, refusalNotice } from '../../../refusal.ts';
import {
  ConsoleError,
  type ConsoleRequestState,
  type Fields,
  stateOf,
  unitIdOf,
} from '../../../session.ts';
import { unitField, unitsToList } from '../../../unit-field.ts';
import { deletedList, deliveryTable, endpointsCursor, unitWords } from './common.ts';

// The form's labels, by the names the domain gives its fields (as the API does): a refusal names
// a field as the form shows it.
export const ENDPOINT_LABELS = { url: 'URL', events: 'Events', unit: 'Unit' } as const;

/** What the new endpoint's form held when it was refused, shown again as typed. */
export interface EndpointForm {
  url: string;
  events: string[];
  unit: string;
}

/**
 * Active endpoints per page of the endpoints' page, newest first, as `GET /v1/webhook-endpoints`
 * lists them: a unit may add any number of endpoints, and each card holds its forms and its
 * newest status webhooks.
 */
const ENDPOINTS_PAGE_SIZE = 20;

/**
 * Deleted endpoints listed (with a link to their logs) under the first page of active ones, the
 * most recently deleted first; the rest, kept until retention removes their logs, on pages of
 * their own (deleted.ts).
 */
const DELETED_ENDPOINTS_SHOWN = 20;

/**
 * An endpoint's newest status webhooks on its card: a page of endpoints draws at most 100 (20
 * cards of 5), as a page of one endpoint's log does (deliveries.ts).
 */
const WEBHOOK_LOG_SHOWN = 5;

/** The windows the console offers for a rotated-out webhook secret, in seconds. */
const KEEP_PREVIOUS_CHOICES: [number, string][] = [
  [3600, '1 hour'],
  [DEFAULT_PREVIOUS_SECRET_SECONDS, '24 hours'],
  [MAX_PREVIOUS_SECRET_SECONDS, '7 days'],
  [0, 'no longer (leaked)'],
];

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

/**
 * The units the new endpoint's form offers: every unit to an admin of every unit (null: too
 * many to list, and the form takes a unit's name), the one it is looking at to an admin of
 * some units.
 */
async function unitsOffered(deps: ConsoleDeps, state: ConsoleRequestState): Promise<Unit[] | null> {
  if (state.scope.kind === 'all') return unitsToList(deps, state.scope);
  return state.units.filter((u) => u.id === state.unitId);
}

/**
 * A page of the endpoints' page: active endpoints newest first, those created before `older`
 * (none: the first page, which also lists the most recently deleted ones).
 * `redelivered`: the endpoint whose failed status webhooks were just queued again, and how
 * many; `refused`: the new endpoint's form as typed, and what is wrong.
 */
export async function webhooksPage(
  deps: ConsoleDeps,
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
  const now = (deps.clock ?? Date.now)();
  const [logs, units, unitName] = await Promise.all([
    // One more than shown for each: whether the endpoint's log goes on.
    deps.webhooks.newestDeliveries(
      endpoints.map((e) => e.id),
      WEBHOOK_LOG_SHOWN + 1,
    ),
    unitsOffered(deps, state),
    unitWords(deps, [...endpoints, ...deleted]),
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
 * `GET /console/webhooks`: the endpoints' page, a page of active endpoints with their newest
 * status webhooks and forms, the most recently deleted under the first, and after a redeliver
 * how many went back to the queue.
 */
export function registerListPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/console/webhooks', { config: { permission: 'administer' } }, async (request, reply) => {
    const { redelivered, count: requeued, older } = request.query as Fields;
    const shown = await webhooksPage(
      deps,
      stateOf(request),
      endpointsCursor(older),
      redeliveredOf(redelivered, requeued),
      null,
    );
    return reply.type('text/html').send(shown.text);
  });
}
