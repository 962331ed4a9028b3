import type { FastifyInstance } from 'fastify';
import { canonicalJson } from '../../domain/canonical-json.ts';
import { count, oneOrMany } from '../../domain/count-words.ts';
import { oneAtATime } from '../../domain/one-at-a-time.ts';
import { isEmptyQuery } from '../../domain/operations/message-query.ts';
import {
  failingAgainAtOnce,
  type RecoveryAction,
  type RecoveryOutcome,
  type RecoveryRecord,
} from '../../domain/operations/recovery.ts';
import { SUPPRESSED_ERROR_CLASS } from '../../domain/types.ts';
import type { ConsoleDeps } from '../deps.ts';
import { age, type Html, html, qs, time } from '../html.ts';
import { csrf, page } from '../layout.ts';
import { olderThanCursor } from '../page-link.ts';
import { invalidIf, type Refusal, refusal, refusalNotice } from '../refusal.ts';
import { addTerm, type ParsedSearch, parseSearch, searchWordsOf } from '../search-language.ts';
import { ConsoleError, type ConsoleRequestState, type Fields, stateOf } from '../session.ts';
import { PROBED, probeNotice, providerHold } from './provider-hold.ts';
import { actorWords, subjectText } from './words.ts';

const PAGE_SIZE = 50;
/** Recoveries per page of the recoveries list. */
const RECOVERIES_PAGE_SIZE = 50;
/** How soon after a recovery the same confirmation sent again is taken for a second click. */
const DOUBLE_SUBMIT_MS = 10_000;

/** The unsent page narrowed to `key:value` (in place of any `key:` the search already has). */
function narrowed(q: string, key: string, value: string): string {
  return `/console/unsent${qs({ q: addTerm(q, key, value) })}`;
}

function counts(
  rows: { label: string | null; count: number; term?: [key: string, value: string] }[],
  base: string,
): Html {
  return html`<table class="list compact"><tbody>${rows.map(
    (r) =>
      html`<tr><td>${r.term ? html`<a href="${narrowed(base, ...r.term)}">${r.label ?? '(none)'}</a>` : (r.label ?? '(none)')}</td><td class="num">${r.count.toLocaleString('en')}</td></tr>`,
  )}</tbody></table>`;
}

/** Why a filter of unsent mail is not understood, in the search language's words; or none. */
function filterProblems(parsed: ParsedSearch): string[] {
  return parsed.id === undefined
    ? parsed.errors
    : [...parsed.errors, 'id: not a filter of unsent mail; look one message up in Search'];
}

function parseFilter(q: string) {
  const parsed = parseSearch(q);
  const problems = filterProblems(parsed);
  if (problems.length > 0) throw new ConsoleError(400, problems.join('; '));
  return parsed.query;
}

/** The filter box of the unsent page, holding the filter as typed. */
function filterForm(q: string, refused: Refusal | null): Html {
  return html`<form method="get" action="/console/unsent" class="search">
  <input type="search" name="q" value="${q}" placeholder="reason:failed error:http_400 category:booking" aria-label="Filter"${invalidIf(refused, 'q')}>
  <button type="submit">Filter</button>
</form>`;
}

/**
 * A recovery's progress card. The stop button is inside the part refreshed while the recovery
 * runs, so the refresh takes the button away when the recovery ends.
 *
 * The outcome line is refreshed on its own, also after the recovery while mail it requeued still
 * waits, so it shows that mail going out. It is a polite live region (role="status"), so a screen
 * reader says when the mail went out: the one sentence, not the whole card; read whole
 * (aria-atomic), not only the number that changed; and only when it changed, since a refresh puts
 * in only what changed and leaves the region itself in place (console.js). The region is on the
 * page from the start, empty until there is an outcome: words that arrive with their region are
 * not read out by every screen reader.
 */
function recoveryProgress(
  r: RecoveryRecord,
  outcome: RecoveryOutcome | null,
  stop: Html | '',
): Html {
  const pending = Math.max(0, r.matched - r.done - r.skipped);
  const running = r.state === 'running';
  // The outcome is a live region: a screen reader reads each change of it, so it is asked for
  // every 10 s, not at the progress bar's 2 s, which during a large recovery would read a new
  // sentence out every 2 s. Requeued mail waiting for a retry may wait minutes anyway.
  const outcomeEvery = running || (outcome !== null && outcome.waiting > 0) ? 10_000 : 0;
  return html`<div class="card"><div ${running ? html`data-poll="2000"` : ''} id="progress">
<p><span class="badge s-${r.state}">${r.state}</span> ${r.action} of ${count(r.matched, 'message')}</p>
<progress max="${Math.max(1, r.matched)}" value="${r.done + r.skipped}"></progress>
<dl class="fields"><dt>Done</dt><dd data-count="done">${r.done}</dd><dt>Skipped</dt><dd data-count="skipped">${r.skipped}</dd><dt>Pending</dt><dd>${pending}</dd>
<dt>Why skipped</dt><dd>${Object.entries(r.skippedReasons).map(([k, v]) => html`${k}: ${v}; `)}${r.skipped === 0 ? '–' : ''}</dd>
<dt>Started by</dt><dd>${actorWords(r.actor)}, ${time(r.createdAt)}</dd>
<dt>Filter</dt><dd>${filterWords(r.filter)}</dd></dl>${stop}</div>
<div role="status" aria-atomic="true" id="recovery-outcome" ${outcomeEvery ? html`data-poll="${outcomeEvery}"` : ''}>${outcomeLine(r, outcome)}</div></div>`;
}

/**
 * A recovery's filter in the search box's words (`reason:failed unit:hotel error:http_400`), with
 * a search of the messages it matches now; what the words cannot say is shown as the API has it.
 */
function filterWords(filter: Record<string, unknown>): Html {
  const { text, rest } = searchWordsOf(filter);
  const more = Object.keys(rest).length > 0;
  return html`${text ? html`<code id="recovery-filter">${text}</code>` : ''}${more ? html` <code class="muted">${JSON.stringify(rest)}</code>` : ''}${text && !more ? html` <a href="/console/messages${qs({ q: text })}">search these messages</a>` : ''}`;
}

/** "Of 1,796 messages requeued: 1,790 sent since, 4 failed again, 2 still waiting." */
function outcomeLine(r: RecoveryRecord, o: RecoveryOutcome | null): Html | '' {
  if (o === null || r.done === 0) return '';
  const n = (key: string, count: number) =>
    html`<strong data-outcome="${key}">${count.toLocaleString('en')}</strong>`;
  // The ones that failed again, as a search: their errors say whether the cause is fixed.
  const failed =
    o.failed > 0
      ? html`<a href="/console/messages${qs({ q: `recovery:${r.id} status:failed` })}" id="failed-again">${n('failed', o.failed)} failed again</a>`
      : html`${n('failed', o.failed)} failed again`;
  return html`<p id="outcome">Of ${count(r.done, 'message')} requeued: ${n('sent', o.sent)} sent since, ${failed}, ${n('waiting', o.waiting)} still waiting${o.cancelled > 0 ? html`, ${n('cancelled', o.cancelled)} cancelled` : ''}${o.movedOn > 0 ? html`, ${n('moved_on', o.movedOn)} requeued again by a later recovery or no longer stored` : ''}.</p>`;
}

export function registerUnsentPages(app: FastifyInstance, deps: ConsoleDeps): void {
  /**
   * Each user's recovery confirmations, one at a time in this process: the second of a double
   * click, sent before the first is answered, then finds the recovery the first started (the
   * check in confirmRecovery) instead of starting a second one beside it, whose mail is all "in
   * another recovery".
   */
  const confirming = new Map<string, Promise<unknown>>();

  app.get('/console/unsent', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const { q = '' } = request.query as Fields;
    const before = olderThanCursor((request.query as Fields).before, 'msg', 'unsent mail');
    const parsed = parseSearch(q);
    const problems = filterProblems(parsed);
    if (problems.length > 0) {
      // A filter not understood is said under the box, which keeps what was typed (as the
      // search does): 400, and nothing is counted or listed.
      const refused = refusal(
        'filter-error',
        problems,
        ['q'],
        html`Nothing is shown until the filter is understood; the search keys are listed under Search keys in <a href="/console/messages">Search</a>.`,
      );
      const body = html`${filterForm(q, refused)}
${refusalNotice(refused)}`;
      return reply
        .code(400)
        .type('text/html')
        .send(page('Unsent mail', state, body, '/console/unsent').text);
    }
    const query = parsed.query;
    const [summary, found, hold, probed] = await Promise.all([
      deps.operations.unsentSummary(state.scope, query),
      // One more than a page: whether an older page exists (keyset, by id).
      deps.operations.unsent(state.scope, query, {
        limit: PAGE_SIZE + 1,
        ...(before ? { beforeId: before } : {}),
      }),
      providerHold(deps, (deps.clock ?? Date.now)(), { state, url: request.url }),
      probeNotice(deps, (request.query as Fields)[PROBED]),
    ]);
    const items = found.slice(0, PAGE_SIZE);
    // The provider's own words for each error class, from a message of the page.
    const sampleError = new Map<string, string>();
    for (const { record } of items) {
      const last = record.attempts[record.attempts.length - 1];
      const text = last?.providerErrors?.[0]?.message ?? last?.detail ?? record.lastError;
      if (record.lastErrorClass && text && !sampleError.has(record.lastErrorClass)) {
        sampleError.set(record.lastErrorClass, text);
      }
    }
    const operator = state.user.role !== 'viewer';
    // This page, for the "Back" link of a message opened from it.
    const here = `/console/unsent${qs({ q, before })}`;
    const last = found.length > PAGE_SIZE ? items[items.length - 1] : undefined;
    const body = html`${probed}${hold}${filterForm(q, null)}
<p class="big"><strong data-total>${summary.total.toLocaleString('en')}</strong> ${oneOrMany(summary.total, 'unsent message matches', 'unsent messages match')}${summary.oldestPending ? html`; the oldest not yet sent (<a href="/console/messages/${summary.oldestPending.id}${qs({ back: here })}">${summary.oldestPending.reason.replace('_', ' ')}</a>) has been due for <strong id="oldest-pending">${age(summary.oldestPending.ageMs)}</strong>` : ''}.</p>
<div class="grid">
<section><h2>By reason</h2>${counts(
      Object.entries(summary.byReason)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => ({ label: k, count: n, term: ['reason', k] as [string, string] })),
      q,
    )}</section>
<section><h2>By unit</h2>${counts(
      summary.byUnit.map((u) => ({
        label: u.unit,
        count: u.count,
        term: ['unit', u.unit] as [string, string],
      })),
      q,
    )}</section>
<section><h2>By provider</h2>${counts(
      summary.byProvider.map((p) => ({
        label: p.provider,
        count: p.count,
        ...(p.provider ? { term: ['provider', p.provider] as [string, string] } : {}),
      })),
      q,
    )}</section>
<section><h2>By error class</h2><table class="list compact"><tbody>${summary.byErrorClass.map(
      (
        e,
      ) => html`<tr><td class="wrap">${e.errorClass ? html`<a href="${narrowed(q, 'error', e.errorClass)}">${e.errorClass}</a>` : '(none)'}
${e.errorClass && sampleError.has(e.errorClass) ? html`<div class="sample">“${sampleError.get(e.errorClass)}”</div>` : ''}</td><td class="num">${e.count.toLocaleString('en')}</td></tr>`,
    )}</tbody></table></section>
</div>
${
  operator && summary.total > 0 && !query.reason
    ? html`<p class="card">To recover mail in bulk, pick a reason first (for failed mail: <a href="${narrowed(q, 'reason', 'failed')}">reason:failed</a>): a recovery acts on every message its filter matches, and without a reason that is not only unsent mail.</p>`
    : ''
}
${
  operator && summary.total > 0 && query.reason
    ? html`<form method="get" action="/console/recoveries/dry-run" class="card">
<input type="hidden" name="q" value="${q}">
<p>Bulk recovery acts on <strong>${summary.total === 1 ? 'the 1 message that matches' : `all ${count(summary.total, 'message')} that match`} this filter</strong>${summary.total > items.length ? `, not only the ${items.length.toLocaleString('en')} shown below` : ''}. A dry run comes first and changes nothing.</p>
${query.reason === 'failed' ? '' : html`<p class="muted">Retry takes failed mail only: these messages are not failed, and ${query.reason === 'held' || query.reason === 'waiting' || query.reason === 'retrying' || query.reason === 'requeued' ? 'go out by themselves once the provider takes mail again' : 'a retry skips them'}. Cancel stops them for good.</p>`}
<label>Action <select name="action"><option value="retry">retry failed mail</option><option value="cancel">cancel queued mail</option></select></label>
<button type="submit">Dry run…</button></form>`
    : ''
}
<h2>Messages (${items.length} on this page)</h2>
<table class="list messages"><thead><tr><th>Created</th><th>Reason</th><th>To</th><th>Subject</th><th>Unit</th><th>Provider</th><th>Error</th></tr></thead>
<tbody>${items.map(
      ({
        record: r,
        reason,
      }) => html`<tr><td data-label="Created">${time(r.createdAt)}</td><td data-label="Reason">${reason}</td><td data-label="To" class="wrap">${r.recipients[0]?.email ?? ''}</td>
<td class="subject"><a href="/console/messages/${r.id}${qs({ back: here })}">${subjectText(r.content)}</a></td><td data-label="Unit">${r.unit}</td><td data-label="Provider">${r.lastProvider ?? ''}</td><td data-label="Error">${r.lastErrorClass ?? ''}</td></tr>`,
    )}</tbody></table>
${items.length === 0 ? html`<p class="muted" role="status" id="no-unsent">${before ? 'No older unsent message matches.' : q ? 'No unsent message matches this filter.' : 'Nothing is unsent.'}</p>` : ''}
${last ? html`<p><a href="/console/unsent${qs({ q, before: last.record.id })}" rel="next">Older →</a></p>` : ''}`;
    return reply.type('text/html').send(page('Unsent mail', state, body, '/console/unsent').text);
  });

  function actionOf(body: Record<string, unknown>): RecoveryAction {
    const action = body.action;
    if (action !== 'retry' && action !== 'cancel')
      throw new ConsoleError(400, 'action: retry or cancel');
    return action;
  }

  async function dryRunPage(
    state: ConsoleRequestState,
    q: string,
    action: RecoveryAction,
    /** What was typed to confirm a recovery that did not start: it matched no longer, or never. */
    typed: string | null,
  ) {
    const query = parseFilter(q);
    if (isEmptyQuery(query)) {
      throw new ConsoleError(
        400,
        'A bulk recovery needs a filter (for example status:failed): it never acts on every message.',
      );
    }
    const dry = await deps.operations.dryRun(state.scope, { action, query });
    const b = dry.breakdown;
    const note =
      typed === null
        ? null
        : `The number typed (${typed}) does not match: the filter matches ${count(b.matched, 'message')} now. Check and type it again.`;
    const names = await deps.operations.unitNames(b.byUnitId.keys());
    // Mail failed because its recipients are suppressed is failed again at once by a retry: the
    // suppression still holds (it is never handed to the provider).
    const suppressed = failingAgainAtOnce(action, b.byErrorClass);
    const canExclude =
      query.errorClass === undefined &&
      query.not?.errorClass === undefined &&
      suppressed < b.matched;
    const withoutSuppressed = `${q.trim()} -error:${SUPPRESSED_ERROR_CLASS}`;
    const list = (m: Map<string | null, number>, name = (k: string | null) => k ?? '(none)') =>
      html`<ul>${[...m].map(([k, v]) => html`<li>${name(k)}: ${v}</li>`)}</ul>`;
    return page(
      'Bulk recovery: dry run',
      state,
      html`${note ? html`<p class="error" role="alert">${note}</p>` : ''}
<section class="card"><p>The filter <code>${q}</code> matches <strong data-matched>${b.matched}</strong> ${oneOrMany(b.matched, 'message', 'messages')} now; the ${action} applies to those in the right status, the others are skipped and counted.${b.inOtherRecovery ? html` ${count(b.inOtherRecovery, 'is', 'are')} in another running recovery and will be skipped.` : ''}</p>
${
  suppressed > 0
    ? html`<div class="error" role="alert" id="suppressed-warning"><p><strong>${suppressed === b.matched ? oneOrMany(suppressed, 'The matched message', `All ${count(suppressed, 'matched message')}`) : `${suppressed.toLocaleString('en')} of the ${count(b.matched, 'matched message')}`} failed because ${suppressed === 1 && b.matched === 1 ? 'its' : 'their'} recipients are suppressed</strong> (error class <code>${SUPPRESSED_ERROR_CLASS}</code>): a retry fails ${oneOrMany(suppressed, 'it', 'them')} again at once, as long as the addresses are on the suppression list. Remove a suppression first if the guest should get the mail.</p>${
        canExclude
          ? html`<p><a href="/console/recoveries/dry-run${qs({ q: withoutSuppressed, action })}">Dry run without them</a> (adds <code>-error:${SUPPRESSED_ERROR_CLASS}</code> to the filter).</p>`
          : ''
      }</div>`
    : ''
}
<div class="grid"><section><h2>By status</h2>${list(b.byStatus)}</section><section><h2>By error class</h2>${list(b.byErrorClass)}</section><section><h2>By unit</h2>${list(b.byUnitId, (k) => names.get(k ?? '') ?? k ?? '')}</section></div>
<h2>Sample (${dry.sample.length})</h2><ul>${dry.sample.map((r) => html`<li><a href="/console/messages/${r.id}${qs({ back: `/console/recoveries/dry-run${qs({ q, action })}` })}">${r.id}</a> ${r.status} ${r.recipients[0]?.email ?? ''} — ${r.content.subject}</li>`)}</ul></section>
${
  b.matched > 0
    ? html`<form method="post" action="/console/recoveries" class="card">${csrf(state)}
<input type="hidden" name="q" value="${q}"><input type="hidden" name="action" value="${action}">
<label>Type the number of messages (${b.matched}) to ${action} ${oneOrMany(b.matched, 'it', 'them all')} <input name="confirm" inputmode="numeric" autocomplete="off" required></label>
<button type="submit" class="danger">Start the ${action}</button></form>`
    : html`<p>Nothing to do.</p>`
}`,
      '/console/unsent',
    );
  }

  // A GET, since it changes nothing: Back from the recovery it started, or from a wrong count,
  // shows it again (a page answering a POST is not kept, and Chromium showed ERR_CACHE_MISS).
  app.get(
    '/console/recoveries/dry-run',
    { config: { permission: 'operate' } },
    async (request, reply) => {
      const state = stateOf(request);
      const query = request.query as Record<string, unknown>;
      const q = String(query.q ?? '');
      const action = actionOf(query);
      const typed = typeof query.typed === 'string' ? query.typed.slice(0, 20) : null;
      return reply.type('text/html').send((await dryRunPage(state, q, action, typed)).text);
    },
  );
  // The form posted here before the dry run was a GET: a page or bookmark from then still works.
  app.post(
    '/console/recoveries/dry-run',
    { config: { permission: 'operate' } },
    async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const q = String(body.q ?? '');
      return reply.redirect(`/console/recoveries/dry-run${qs({ q, action: actionOf(body) })}`, 303);
    },
  );

  app.post('/console/recoveries', { config: { permission: 'operate' } }, async (request, reply) => {
    const state = stateOf(request);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const q = String(body.q ?? '');
    const action = actionOf(body);
    const query = parseFilter(q);
    // As people type numbers: full-width digits from a Japanese input method (NFKC makes them
    // ASCII), a thousands separator, spaces around it.
    const typed = String(body.confirm ?? '')
      .normalize('NFKC')
      .replace(/[,\s]/g, '');
    const actor = `${state.actor.type}:${state.actor.id}`;
    const target = await oneAtATime(confirming, actor, () =>
      confirmRecovery(state, q, action, query, typed),
    );
    return reply.redirect(target, 303);
  });

  /** Where a recovery's confirmation leads: the recovery it (or its twin) started, or the dry run. */
  async function confirmRecovery(
    state: ConsoleRequestState,
    q: string,
    action: RecoveryAction,
    query: ReturnType<typeof parseFilter>,
    /** The count typed to confirm it. */
    typed: string,
  ): Promise<string> {
    const dry = await deps.operations.dryRun(state.scope, { action, query });
    // The same confirmation sent again within seconds (a double click on a slow link): the first
    // started the recovery. Show that one, rather than start a second that finds its mail taken
    // ("in another recovery"), or say "the number typed does not match" once the first has
    // requeued it.
    const now = (deps.clock ?? Date.now)();
    const twin = (await deps.operations.listRecoveries(state.scope, { limit: 10 })).find(
      (r) =>
        r.actor.type === state.actor.type &&
        r.actor.id === state.actor.id &&
        r.action === action &&
        String(r.matched) === typed &&
        now - r.createdAt <= DOUBLE_SUBMIT_MS &&
        // A filter read back from PostgreSQL's jsonb has its keys sorted.
        canonicalJson(r.filter) === canonicalJson(dry.filter),
    );
    if (twin) return `/console/recoveries/${twin.id}`;
    if (typed !== String(dry.breakdown.matched)) {
      // Back to the dry run (a GET, counted again), saying what was typed: nothing starts.
      return `/console/recoveries/dry-run${qs({ q, action, typed: typed || '–' })}`;
    }
    const record = await deps.operations.startRecovery(state.scope, state.actor, {
      action,
      query,
      dryRun: false,
    });
    return `/console/recoveries/${record.id}`;
  }

  app.get('/console/recoveries', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const older = olderThanCursor((request.query as Fields).older, 'rec', 'recoveries');
    // One more than a page: whether an older page exists. Paged by id, newest first (keyset).
    const found = await deps.operations.listRecoveries(state.scope, {
      limit: RECOVERIES_PAGE_SIZE + 1,
      ...(older ? { beforeId: older } : {}),
    });
    const list = found.slice(0, RECOVERIES_PAGE_SIZE);
    const last = found.length > RECOVERIES_PAGE_SIZE ? list[list.length - 1] : undefined;
    const body = html`<table class="list"><thead><tr><th>Started</th><th>State</th><th>Action</th><th>Matched</th><th>Done</th><th>Skipped</th><th>By</th></tr></thead>
<tbody>${list.map((r) => html`<tr><td><a href="/console/recoveries/${r.id}">${time(r.createdAt)}</a></td><td>${r.state}</td><td>${r.action}</td><td>${r.matched}</td><td>${r.done}</td><td>${r.skipped}</td><td>${actorWords(r.actor)}</td></tr>`)}</tbody></table>
${list.length === 0 ? html`<p class="muted" role="status">${older ? 'No older recovery.' : 'No recovery yet.'}</p>` : ''}
${last ? html`<p><a href="/console/recoveries${qs({ older: last.id })}" rel="next">Older recoveries →</a></p>` : ''}`;
    return reply
      .type('text/html')
      .send(page('Recoveries', state, body, '/console/recoveries').text);
  });

  app.get('/console/recoveries/:id', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const { id } = request.params as { id: string };
    const { record: r, outcome } = await deps.operations.getRecoveryWithOutcome(state.scope, id);
    if ((request.headers.accept ?? '').includes('application/json'))
      return reply.send({ ...r, outcome });
    const stop =
      r.state === 'running' && state.user.role !== 'viewer'
        ? html`<form method="post" action="/console/recoveries/${r.id}/cancel">${csrf(state)}<button type="submit">Stop this recovery</button></form>`
        : '';
    const body = html`${recoveryProgress(r, outcome, stop)}
<p class="muted">Safe to run twice: a message already sent is skipped, never sent again.</p>`;
    return reply
      .type('text/html')
      .send(page(`Recovery ${r.id}`, state, body, '/console/recoveries').text);
  });

  app.post(
    '/console/recoveries/:id/cancel',
    { config: { permission: 'operate' } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      await deps.operations.cancelRecovery(state.scope, state.actor, id);
      return reply.redirect(`/console/recoveries/${id}`, 303);
    },
  );
}
